package sites

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"golang.org/x/net/idna"
)

// Source is where a Registry reads the sites from: *Store in the
// programs.
type Source interface {
	Load(ctx context.Context) ([]Site, error)
}

// DefaultReload is how often the programs read the registry again.
const DefaultReload = 3 * time.Second

// Registry is the programs' copy of the sites, read again from its
// Source every few seconds (Run), so a change made through the API is
// seen within seconds everywhere. Its reads take no lock and, on the
// collector's hit path (Lookup, SiteOfKey, AllowsHost), allocate nothing.
// Sites it returns share their slices and maps with the registry: read
// them, never change them.
type Registry struct {
	src  Source
	snap atomic.Pointer[snapshot]
	// loadMu lets one Reload read at a time.
	loadMu sync.Mutex
}

// Entry is one site as the registry holds it, ready for the hit path.
type Entry struct {
	site Site
	loc  *time.Location
}

// Site is the entry's settings.
func (e *Entry) Site() *Site { return &e.site }

// Location is the site's time zone.
func (e *Entry) Location() *time.Location { return e.loc }

type snapshot struct {
	sites map[string]*Entry
	// keys maps the SHA-256 of each server API key to its site.
	keys map[[sha256.Size]byte]*Entry
	// domains holds every domain some site lists, and anyOrigin whether
	// some site takes hits from any page: what a CORS preflight, which
	// names no site, is answered by.
	domains   map[string]bool
	anyOrigin bool
	loadedAt  time.Time
}

var (
	metricReloads = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "footfall_sites_reloads_total",
		Help: "Reads of the site registry from ClickHouse, by result (ok, error); on error the last sites read stay in use.",
	}, []string{"result"})
	metricReloadOK    = metricReloads.WithLabelValues("ok")
	metricReloadError = metricReloads.WithLabelValues("error")
	metricSites       = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "footfall_sites",
		Help: "Sites in the registry this program holds.",
	})
	metricAge = promauto.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "footfall_sites_registry_age_seconds",
		Help: "Seconds since this program last read the site registry (0 before the first read).",
	}, registryAge)
	lastLoad atomic.Int64 // unix nanoseconds of the last successful load, any registry
)

func registryAge() float64 {
	n := lastLoad.Load()
	if n == 0 {
		return 0
	}
	return time.Since(time.Unix(0, n)).Seconds()
}

// NewRegistry returns a registry that reads src. It holds no site until
// Reload (or Run) has read them.
func NewRegistry(src Source) *Registry {
	r := &Registry{src: src}
	r.snap.Store(build(nil, time.Time{}))
	return r
}

// NewStatic returns a registry of the sites given, which never reads
// anything: for tests and tools.
func NewStatic(list ...Site) *Registry {
	r := &Registry{}
	r.Set(list)
	return r
}

// Set replaces the registry's sites (a static registry's, or in tests).
func (r *Registry) Set(list []Site) {
	r.snap.Store(build(list, time.Now()))
	metricSites.Set(float64(len(list)))
}

// Reload reads the sites again from the source.
func (r *Registry) Reload(ctx context.Context) error {
	if r.src == nil {
		return nil
	}
	r.loadMu.Lock()
	defer r.loadMu.Unlock()
	list, err := r.src.Load(ctx)
	if err != nil {
		metricReloadError.Inc()
		return err
	}
	metricReloadOK.Inc()
	lastLoad.Store(time.Now().UnixNano())
	r.Set(list)
	return nil
}

// Run reads the sites again every interval (DefaultReload when 0) until
// ctx ends. A failed read keeps the sites read last, logs and counts it.
func (r *Registry) Run(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = DefaultReload
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			lctx, cancel := context.WithTimeout(ctx, max(interval, 5*time.Second))
			err := r.Reload(lctx)
			cancel()
			switch {
			case err != nil && ctx.Err() == nil && !failing:
				slog.Warn("site registry: reload failed; keeping the sites read last", "err", err)
				failing = true
			case err == nil && failing:
				slog.Info("site registry: reloaded again")
				failing = false
			}
		}
	}
}

// Start reads the sites once, failing when it cannot, then keeps reading
// them every interval in the background until ctx ends.
func (r *Registry) Start(ctx context.Context, interval time.Duration) error {
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := r.Reload(lctx); err != nil {
		return err
	}
	go r.Run(ctx, interval)
	return nil
}

// Get returns the site id, and whether it exists.
func (r *Registry) Get(id string) (Site, bool) {
	e := r.snap.Load().sites[id]
	if e == nil {
		return Site{}, false
	}
	return e.site, true
}

// All lists the sites, by id.
func (r *Registry) All() []Site {
	s := r.snap.Load()
	out := make([]Site, 0, len(s.sites))
	for _, e := range s.sites {
		out = append(out, e.site)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Location is the site's time zone, UTC for a site the registry does not
// know.
func (r *Registry) Location(id string) *time.Location {
	if e := r.snap.Load().sites[id]; e != nil {
		return e.loc
	}
	return time.UTC
}

// Lookup returns the site of id, nil when there is none. It does not
// allocate.
func (r *Registry) Lookup(id []byte) *Entry {
	return r.snap.Load().sites[string(id)]
}

// CheckKey says whether key is a server API key of site id.
func (r *Registry) CheckKey(id, key string) bool {
	e := r.snap.Load().keys[sha256.Sum256([]byte(key))]
	return e != nil && e.site.ID == id
}

// SiteOfKey returns the site a server API key belongs to. It does not
// allocate; the key is found by its hash, so its time says nothing about
// how much of a key matched.
func (r *Registry) SiteOfKey(key []byte) (*Entry, bool) {
	e := r.snap.Load().keys[sha256.Sum256(key)]
	return e, e != nil
}

// Restricted says whether the site takes hits only from its domains.
func (e *Entry) Restricted() bool {
	return len(e.site.Domains) > 0 && !e.site.AcceptForeignDomains
}

// AllowsHost says whether host (as in a URL or an Origin: any case, maybe
// a port) is one of the site's domains or below one. A site that lists
// none, or accepts foreign domains, allows any. It does not allocate.
func (e *Entry) AllowsHost(host []byte) bool {
	if !e.Restricted() {
		return true
	}
	return e.ListsHost(host)
}

// ListsHost says whether host is one of the site's domains or below one.
// A host written in Unicode (café.fr, CAFÉ.fr, caf%C3%A9.fr) is compared
// as its punycode (xn--caf-dma.fr), which is how the registry keeps the
// domains (NormalizeDomain), whichever spelling the operator gave.
func (e *Entry) ListsHost(host []byte) bool {
	host = asciiHost(trimHost(host))
	for _, d := range e.site.Domains {
		if hostUnder(host, d) {
			return true
		}
	}
	return false
}

// AnyListsHost says whether host is a domain, or below a domain, some
// site lists; anyOrigin whether some site takes hits from any page. A
// CORS preflight, which carries no site id, is answered by them.
func (r *Registry) AnyListsHost(host []byte) (listed, anyOrigin bool) {
	s := r.snap.Load()
	host = asciiHost(trimHost(host))
	for len(host) > 0 {
		if s.domains[string(host)] || s.domains[string(lowerIfNeeded(host))] {
			return true, s.anyOrigin
		}
		i := indexByte(host, '.')
		if i < 0 {
			break
		}
		host = host[i+1:]
	}
	return false, s.anyOrigin
}

// lowerIfNeeded returns host when it has no upper case letter; else a
// lower-case copy (a browser sends hosts in lower case, so this is rare).
func lowerIfNeeded(host []byte) []byte {
	for _, c := range host {
		if 'A' <= c && c <= 'Z' {
			b := make([]byte, len(host))
			for i, c := range host {
				if 'A' <= c && c <= 'Z' {
					c += 'a' - 'A'
				}
				b[i] = c
			}
			return b
		}
	}
	return host
}

// asciiHost is host as domains are compared: unchanged when it is ASCII
// without percent-escapes (no allocation: what browsers send, an Origin
// and location.href being punycode already); else unescaped and turned
// into lower-case punycode by IDNA's lookup rules (golang.org/x/net/idna:
// case folding, NFC, full-width dots), as NormalizeDomain turns the
// site's domains. A host IDNA refuses is returned as it is: it matches
// no domain.
func asciiHost(host []byte) []byte {
	for _, c := range host {
		if c >= 0x80 || c == '%' {
			return idnaHost(host)
		}
	}
	return host
}

func idnaHost(host []byte) []byte {
	s := string(host)
	if u, err := url.PathUnescape(s); err == nil {
		s = u
	}
	a, err := idna.Lookup.ToASCII(s)
	if err != nil || a == "" {
		return host
	}
	return trimHost([]byte(strings.ToLower(a)))
}

// trimHost drops a port and a trailing dot.
func trimHost(h []byte) []byte {
	if len(h) > 0 && h[0] == '[' { // [v6]:port
		if i := indexByte(h, ']'); i > 0 {
			return h[1:i]
		}
		return h
	}
	if i := indexByte(h, ':'); i >= 0 {
		h = h[:i]
	}
	if n := len(h); n > 0 && h[n-1] == '.' {
		h = h[:n-1]
	}
	return h
}

// hostUnder says whether host is domain d or one of its subdomains,
// ignoring ASCII case (d is lower case).
func hostUnder(host []byte, d string) bool {
	if len(host) < len(d) {
		return false
	}
	tail := host[len(host)-len(d):]
	for i := range tail {
		c := tail[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != d[i] {
			return false
		}
	}
	return len(host) == len(d) || host[len(host)-len(d)-1] == '.'
}

func indexByte(b []byte, c byte) int {
	for i := range b {
		if b[i] == c {
			return i
		}
	}
	return -1
}

// HostOfURL returns the host of an absolute URL (http://Host:port/...),
// nil for a URL without one. It does not allocate.
func HostOfURL(u []byte) []byte {
	i := 0
	for i < len(u) && u[i] != ':' && u[i] != '/' && u[i] != '?' && u[i] != '#' {
		i++
	}
	if i+2 >= len(u) || u[i] != ':' || u[i+1] != '/' || u[i+2] != '/' {
		return nil
	}
	rest := u[i+3:]
	end := 0
	for end < len(rest) && rest[end] != '/' && rest[end] != '?' && rest[end] != '#' {
		end++
	}
	auth := rest[:end]
	for j := len(auth) - 1; j >= 0; j-- {
		if auth[j] == '@' {
			auth = auth[j+1:]
			break
		}
	}
	return auth
}

func build(list []Site, at time.Time) *snapshot {
	s := &snapshot{sites: make(map[string]*Entry, len(list)), keys: map[[sha256.Size]byte]*Entry{},
		domains: map[string]bool{}, loadedAt: at}
	for _, site := range list {
		loc, err := LoadLocation(site.TimeZone)
		if err != nil {
			loc = time.UTC
		}
		e := &Entry{site: site, loc: loc}
		s.sites[site.ID] = e
		for _, k := range site.Keys {
			var sum [sha256.Size]byte
			if n, err := hex.Decode(sum[:], []byte(k.Hash)); err == nil && n == len(sum) {
				s.keys[sum] = e
			}
		}
		for _, d := range site.Domains {
			s.domains[d] = true
		}
		if !e.Restricted() {
			s.anyOrigin = true
		}
	}
	return s
}
