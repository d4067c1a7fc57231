// Package app is the dashboards program: the query API and the web page on
// their listener, the ops listener, and an orderly shutdown, wired from one
// Config. main.go only parses flags and waits for a signal; tests start it
// in-process on random ports.
package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"footfall/dashboards/api"
	"footfall/dashboards/web"
	"footfall/internal/access"
	"footfall/internal/campaigns"
	"footfall/internal/chsql"
	"footfall/internal/envflag"
	"footfall/internal/erasure"
	"footfall/internal/links"
	"footfall/internal/ops"
	"footfall/internal/profiles"
	"footfall/internal/reports"
	"footfall/internal/sites"
	"footfall/internal/weekly"
	"footfall/processor/chstore"
)

// Config is the dashboards' whole configuration.
type Config struct {
	Listen string
	// Token is an admin's API token that is not stored, for scripts
	// (-api-token); Admin and AdminPassword make the first admin user
	// when there is none (make up does); SecureCookies and SessionTTL
	// are the login's cookie (api.Config).
	Token         string
	Admin         string
	AdminPassword string
	SecureCookies bool
	SessionTTL    time.Duration
	// FunnelSample is the size of a funnel's sample of visitors, in events
	// (-funnel-sample-events; reports.Sampling).
	FunnelSample uint64
	// MaxReports bounds the reads one credential runs at once
	// (-max-reports; api.Config.MaxReports).
	MaxReports int
	// CH is the writer: segment definitions, campaigns and recipient
	// imports, manual classes, erasure. Read is the same database as a user
	// that may only read, for every report and read.
	CH    chsql.Config
	Read  ReadUser
	Rules profiles.Rules
	// SitesReload is how often the site registry is read again.
	SitesReload time.Duration
	// LinkSecret and CollectorURL let the API rewrite newsletter links.
	LinkSecret   string
	CollectorURL string
	// ErasureSecret keys the tombstones of erased people, as the
	// processor's (internal/erasure).
	ErasureSecret string
	Commission    api.Commission
	Ops           ops.Config
	// ReadTimeout bounds reading a whole request, body included;
	// WriteTimeout a response, from the end of its request's headers (an
	// export of a large segment must fit); IdleTimeout a keep-alive
	// connection between requests. Without them a slow or idle client
	// holds a connection and its goroutine for ever.
	ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// SMTP is the mail server of the weekly e-mail report
	// (internal/weekly); without a host no report is sent. Now is the
	// clock the report's schedule reads (nil: time.Now), for tests.
	SMTP weekly.SMTP
	Now  func() time.Time
	// WeeklyCheck is how often the weekly report's sender looks for a
	// report due (0: every minute), for tests.
	WeeklyCheck time.Duration
}

// minFunnelSample is the smallest -funnel-sample-events: a step reached by
// 1% of such a sample's visitors (a visitor per ten events) has 10 of them,
// a standard error of a third.
const minFunnelSample = 10_000

// RegisterFlags declares the dashboards' flags on fs, with their defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Listen, "dashboards-listen", "127.0.0.1:8090", "address of the dashboard and query API")
	fs.StringVar(&c.Token, "api-token", "", "an admin's API token for scripts, sent as Authorization: Bearer (every site, read and write); empty: none")
	fs.StringVar(&c.Admin, "admin-user", "admin", "name of the admin user made at start when there is no admin and -admin-password is set")
	fs.StringVar(&c.AdminPassword, "admin-password", "", "password of the first admin user (10 to 72 bytes), used only while there is no admin")
	fs.BoolVar(&c.SecureCookies, "cookie-secure", false, "mark the login's cookie Secure and name it __Host-ff_session: set it when the dashboards are served over HTTPS (a TLS proxy in front)")
	fs.DurationVar(&c.SessionTTL, "session-ttl", 12*time.Hour, "how long a login lasts")
	fs.Uint64Var(&c.FunnelSample, "funnel-sample-events", reports.DefaultSampleEvents, fmt.Sprintf("a funnel over a period of more than twice this many events follows a sample of its visitors with about this many events (the answer says sample: one visitor in N); at least %d; sample=off in a request follows every visitor", minFunnelSample))
	fs.IntVar(&c.MaxReports, "max-reports", 8, "reads of reports and people one credential (a user, a token, a share link) runs at once; more wait their turn up to 30 s, 8 times as many at most, beyond which 429; 0: no bound")
	c.CH.RegisterFlags(fs)
	fs.StringVar(&c.Read.User, "clickhouse-read-user", "footfall_reader", "ClickHouse user of every report and read: give it readonly = 1 (deploy/local/clickhouse/users.xml) or SELECT rights only")
	fs.StringVar(&c.Read.Password, "clickhouse-read-password", "", "password of -clickhouse-read-user")
	c.Rules.RegisterFlags(fs)
	fs.DurationVar(&c.SitesReload, "sites-reload", sites.DefaultReload, "how often the site registry is read again from ClickHouse: a change another dashboards made is in force here within this (this one's own at once)")
	fs.StringVar(&c.LinkSecret, "link-secret", "", "HMAC key of newsletter click and unsubscribe links (16+ bytes, the same as the collector's)")
	fs.StringVar(&c.CollectorURL, "collector-url", "http://127.0.0.1:8080", "the collector's public address, which newsletter links and pixels point to")
	c.Commission.RegisterFlags(fs)
	erasure.RegisterFlag(fs, &c.ErasureSecret)
	c.Ops.RegisterFlags(fs, "dashboards", "127.0.0.1:9103")
	fs.DurationVar(&c.ReadTimeout, "dashboards-read-timeout", 30*time.Second, "longest time to read a request, body included (a recipient import)")
	fs.DurationVar(&c.WriteTimeout, "dashboards-write-timeout", 10*time.Minute, "longest time to answer a request, from the end of its headers (a large export)")
	fs.DurationVar(&c.IdleTimeout, "dashboards-idle-timeout", 2*time.Minute, "longest time a keep-alive connection stays open between requests")
	c.SMTP.RegisterFlags(fs)
}

// ReadUser is the ClickHouse user the reads connect as.
type ReadUser struct{ User, Password string }

// Secrets names the flags the start-up log must not print.
var Secrets = envflag.Secret{"api-token": true, "admin-password": true, "clickhouse-password": true, "clickhouse-read-password": true, "link-secret": true, "erasure-secret": true, "smtp-password": true}

// Program is running dashboards.
type Program struct {
	store  *chstore.Store
	reader *chsql.Conn
	srv    *http.Server
	ln     net.Listener
	ops    *ops.Server
	served chan error
	// stopSites ends the site registry's reloads, stopWeekly the weekly
	// report's sender, which weeklyDone then reports stopped.
	stopSites  context.CancelFunc
	stopWeekly context.CancelFunc
	weeklyDone chan struct{}

	shutdownOnce sync.Once
	shutdownErr  error
}

// Start connects to ClickHouse and serves the page and the API on
// cfg.Listen, and /metrics, /healthz, /readyz on cfg.Ops.Listen. ctx bounds
// the start only.
func Start(ctx context.Context, cfg Config) (*Program, error) {
	if cfg.FunnelSample < minFunnelSample {
		return nil, fmt.Errorf("-funnel-sample-events: %d, want at least %d (a smaller sample's steps are noise; sample=off in a request follows every visitor)", cfg.FunnelSample, minFunnelSample)
	}
	if cfg.MaxReports < 0 {
		return nil, fmt.Errorf("-max-reports: %d, want 0 (no bound) or more", cfg.MaxReports)
	}
	acfg := api.Config{Token: cfg.Token, Rules: cfg.Rules, CollectorURL: cfg.CollectorURL, Commission: cfg.Commission,
		SecureCookies: cfg.SecureCookies, SessionTTL: cfg.SessionTTL, Funnels: reports.Sampling{Events: cfg.FunnelSample},
		MaxReports: cfg.MaxReports}
	if cfg.LinkSecret != "" {
		var err error
		if acfg.Links, err = links.NewSigner(cfg.LinkSecret); err != nil {
			return nil, fmt.Errorf("-link-secret: %w", err)
		}
	}
	if err := erasure.CheckSecret(cfg.ErasureSecret); err != nil {
		return nil, err
	}
	// Neither connection creates anything: the processor makes the
	// database and its tables.
	writer, err := chsql.Open(ctx, cfg.CH)
	if err != nil {
		return nil, err
	}
	rcfg := cfg.CH
	rcfg.User, rcfg.Password = cfg.Read.User, cfg.Read.Password
	reader, err := chsql.Open(ctx, rcfg)
	if err != nil {
		writer.Close()
		return nil, fmt.Errorf("clickhouse as read user %s: %w", rcfg.User, err)
	}
	store := chstore.On(writer)
	acfg.Access = access.NewStore(reader, writer)
	if err := bootstrapAdmin(ctx, acfg.Access, cfg.Admin, cfg.AdminPassword); err != nil {
		reader.Close()
		writer.Close()
		return nil, err
	}
	// The sites' time zones come from the registry, read again every few
	// seconds until the dashboards stop: a zone changed through the API is
	// the reports' within seconds, with no restart.
	registry := sites.NewRegistry(sites.NewStore(reader))
	sitesCtx, stopSites := context.WithCancel(context.Background())
	if err := registry.Start(sitesCtx, cfg.SitesReload); err != nil {
		stopSites()
		reader.Close()
		writer.Close()
		return nil, fmt.Errorf("site registry: %w", err)
	}
	acfg.Zone = registry.Location
	// Amounts are shown in each site's currency, the registry's.
	acfg.Currency = func(site string) string {
		if s, ok := registry.Get(site); ok {
			return s.Currency
		}
		return ""
	}
	acfg.Sites = registry // each site's rules and commissions, and the /api/v1/sites routes
	p := &Program{store: store, reader: reader, served: make(chan error, 1), stopSites: stopSites, stopWeekly: func() {}}
	mux := http.NewServeMux()
	srv := api.New(reader, store, acfg)
	srv.SetErasureSecret(cfg.ErasureSecret)
	if err := routes(mux, srv); err != nil {
		p.closeDB()
		return nil, err
	}
	if cfg.SMTP.Host != "" {
		p.startWeekly(cfg, registry, store)
	}

	if p.ops, err = ops.Start(cfg.Ops, nil); err != nil {
		p.closeDB()
		return nil, err
	}
	if p.ln, err = net.Listen("tcp", cfg.Listen); err != nil {
		p.ops.Shutdown(ctx)
		p.closeDB()
		return nil, fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	p.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout: cfg.ReadTimeout, WriteTimeout: cfg.WriteTimeout, IdleTimeout: cfg.IdleTimeout}
	go func() { p.served <- p.srv.Serve(p.ln) }()
	return p, nil
}

// Addr is the address of the page and the API (useful with port 0).
func (p *Program) Addr() string { return p.ln.Addr().String() }

// OpsAddr is the ops listener's address, "" when it is off.
func (p *Program) OpsAddr() string { return p.ops.Addr() }

// Shutdown stops the dashboards: /readyz fails first, then the listener
// closes and the requests in flight finish (up to ctx), then the two
// ClickHouse connections and the ops listener close. Calling it again
// returns the first call's result.
func (p *Program) Shutdown(ctx context.Context) error {
	p.shutdownOnce.Do(func() { p.shutdownErr = p.shutdown(ctx) })
	return p.shutdownErr
}

func (p *Program) shutdown(ctx context.Context) error {
	p.ops.Drain()
	var errs []error
	if err := p.srv.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("stop http server: %w", err))
	}
	if err := <-p.served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		errs = append(errs, fmt.Errorf("serve: %w", err))
	}
	if err := p.closeDB(); err != nil {
		errs = append(errs, err)
	}
	if err := p.ops.Shutdown(ctx); err != nil {
		errs = append(errs, err)
	}
	slog.Info("dashboards stopped")
	return errors.Join(errs...)
}

func (p *Program) closeDB() error {
	p.stopWeekly()
	if p.weeklyDone != nil {
		<-p.weeklyDone
	}
	p.stopSites()
	if err := errors.Join(p.reader.Close(), p.store.Close()); err != nil {
		return fmt.Errorf("close clickhouse: %w", err)
	}
	return nil
}

// routes mounts the API (srv), the page files and /healthz on mux: every
// route the dashboards serve, which the OpenAPI check reads
// (openapi_test.go).
func routes(mux api.Mux, srv *api.Server) error {
	srv.Register(mux)
	files, err := static(web.Files)
	if err != nil {
		return err
	}
	mux.Handle("GET /", api.Pages(files))
	// Also on the public port, for a load balancer in front of it.
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	return nil
}

// startWeekly starts the weekly e-mail report's sender: each site with
// report addresses gets the report of the week before on Monday from
// 08:00 on its clock (internal/weekly). Only a dashboards with -smtp-host
// sends; a week sent is recorded in ClickHouse and not sent again.
func (p *Program) startWeekly(cfg Config, registry *sites.Registry, store *chstore.Store) {
	// Newsletters' amounts in each site's currency, as the API's reports.
	camps := campaigns.NewStore(p.reader)
	camps.SetCurrency(func(site string) string {
		if s, ok := registry.Get(site); ok {
			return s.Currency
		}
		return ""
	})
	s := &weekly.Sender{Read: p.reader, Store: weekly.NewStore(store.DB()), Campaigns: camps, SMTP: cfg.SMTP, Now: cfg.Now, Every: cfg.WeeklyCheck,
		Sites: func() []weekly.Site {
			var out []weekly.Site
			for _, st := range registry.All() {
				out = append(out, weekly.Site{ID: st.ID, Name: st.Name, Zone: registry.Location(st.ID), Currency: st.Currency})
			}
			return out
		}}
	ctx, cancel := context.WithCancel(context.Background())
	p.stopWeekly, p.weeklyDone = cancel, make(chan struct{})
	go func() {
		defer close(p.weeklyDone)
		s.Run(ctx)
	}()
}

// bootstrapAdmin makes the admin user name with password when the
// dashboards have no admin yet (a new installation): make up passes the
// password it keeps in .local/admin-password. Once an admin exists the
// password given here is not used again.
func bootstrapAdmin(ctx context.Context, st *access.Store, name, password string) error {
	if password == "" {
		return nil
	}
	has, err := st.HasAdmin(ctx)
	if err != nil {
		return fmt.Errorf("read users: %w", err)
	}
	if has {
		// Said, so that whoever passed the password (make up prints the
		// one it keeps) knows it does not open this database's admin.
		slog.Warn("an admin user exists already: -admin-password was not used; log in with that admin's password", "user", name)
		return nil
	}
	if _, err := st.SaveUser(ctx, name, password, true, nil); err != nil {
		return fmt.Errorf("make admin %s: %w", name, err)
	}
	slog.Info("made the first admin user", "user", name)
	return nil
}
