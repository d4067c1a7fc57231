package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"time"

	"footfall/internal/chsql"
	"footfall/internal/money"
	"footfall/internal/profiles"
	"footfall/internal/sites"
)

// The site registry's API: list, create and change sites, add and revoke
// their server API keys (a new key is in the answer that made it, once;
// the registry keeps its hash). Every program reads the registry again
// within seconds (-sites-reload); this one at once after a change.

// wireSites makes the registry's settings the API's: each site's zone
// (unless Config.Zone says otherwise), lifecycle rules and commissions.
func (a *API) wireSites() {
	if a.cfg.Sites == nil {
		return
	}
	if a.cfg.Zone == nil {
		a.cfg.Zone = a.cfg.Sites.Location
	}
	a.people.SetSiteRules(profiles.SiteRules(a.cfg.Sites))
}

// commission is what site pays its affiliates: the registry's rates, or
// for a site it does not hold the -affiliate-rate flags'.
func (a *API) commission(site string) Commission {
	if a.cfg.Sites != nil {
		if s, ok := a.cfg.Sites.Get(site); ok {
			return Commission{Default: s.AffiliateRate, Rates: s.AffiliateRates}
		}
	}
	return a.cfg.Commission
}

// siteAdmin serves /api/v1/sites on the writer's connection.
type siteAdmin struct {
	api   *API
	store *sites.Store
	db    *chsql.Conn // the writer's
}

// registerSites mounts the site registry's routes, each behind guard.
func (s *Server) registerSites(mux Mux, guard func(http.HandlerFunc) http.HandlerFunc) {
	if s.read.cfg.Sites == nil {
		return
	}
	sa := &siteAdmin{api: s.read, store: sites.NewStore(s.write.people.DB()), db: s.write.people.DB()}
	mux.HandleFunc("GET /api/v1/sites", guard(sa.list))
	mux.HandleFunc("POST /api/v1/sites", guard(sa.create))
	mux.HandleFunc("GET /api/v1/sites/{id}", guard(sa.get))
	mux.HandleFunc("PATCH /api/v1/sites/{id}", guard(sa.update))
	mux.HandleFunc("PUT /api/v1/sites/{id}", guard(sa.update))
	mux.HandleFunc("POST /api/v1/sites/{id}/keys", guard(sa.addKey))
	mux.HandleFunc("DELETE /api/v1/sites/{id}/keys/{key}", guard(sa.revokeKey))
}

func (sa *siteAdmin) ctx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), 10*time.Second)
}

// reload reads the registry again after a change, so this program's next
// request sees it; the others see it at their next reload.
func (sa *siteAdmin) reload(ctx context.Context) {
	if err := sa.api.cfg.Sites.Reload(ctx); err != nil {
		siteLog("reload after a change", err)
	}
}

// list answers GET /api/v1/sites: every site, keys by id and name only.
func (sa *siteAdmin) list(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := sa.ctx(r)
	defer cancel()
	all, err := sa.store.Load(ctx)
	if err != nil {
		sa.api.fail(w, "sites", err)
		return
	}
	for i := range all {
		all[i] = inOwnZone(all[i])
	}
	writeJSON(w, all)
}

// get answers GET /api/v1/sites/{id}.
func (sa *siteAdmin) get(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := sa.ctx(r)
	defer cancel()
	all, err := sa.store.Load(ctx)
	if err != nil {
		sa.api.fail(w, "sites", err)
		return
	}
	for _, s := range all {
		if s.ID == r.PathValue("id") {
			writeJSON(w, inOwnZone(s))
			return
		}
	}
	writeError(w, http.StatusNotFound, sites.ErrNotFound)
}

// siteBody reads a site's settings from a JSON body onto s: the fields
// given replace s's, the others stay. Keys and times are not settings.
func siteBody(w http.ResponseWriter, r *http.Request, s *sites.Site) bool {
	keys, created, updated := s.Keys, s.CreatedAt, s.UpdatedAt
	if err := readBody(w, r, 1<<20, s); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("body: want a JSON object of a site's settings (id, name, domains, time_zone, currency, loyal_orders, loyal_revenue, inactive_days, affiliate_rate, affiliate_rates, accept_foreign_domains, retention_days): %w", err))
		return false
	}
	if len(s.Keys) != len(keys) || s.CreatedAt != created || s.UpdatedAt != updated {
		writeError(w, http.StatusBadRequest, errors.New("keys, created_at and updated_at are not settings: add a key with POST /api/v1/sites/{id}/keys"))
		return false
	}
	return true
}

// create answers POST /api/v1/sites {"id", "time_zone", "currency", ...}:
// 201 with the site. What the body leaves out is the dashboards' flags'
// (-loyal-orders, -loyal-revenue, -inactive-days, -affiliate-rate,
// -affiliate-rates); id, time_zone and currency are required.
func (sa *siteAdmin) create(w http.ResponseWriter, r *http.Request) {
	cfg := sa.api.cfg
	s := sites.Site{LoyalOrders: cfg.Rules.LoyalOrders, LoyalRevenue: cfg.Rules.LoyalRevenue, InactiveDays: cfg.Rules.InactiveDays,
		AffiliateRate: cfg.Commission.Default, AffiliateRates: maps.Clone(cfg.Commission.Rates), Domains: []string{}}
	if s.AffiliateRates == nil {
		s.AffiliateRates = map[string]float64{}
	}
	if !siteBody(w, r, &s) {
		return
	}
	if s.Currency == "" {
		writeError(w, http.StatusBadRequest, errors.New("currency: required, the ISO 4217 code reports show amounts in (EUR, USD, JPY...)"))
		return
	}
	ctx, cancel := sa.ctx(r)
	defer cancel()
	created, err := sa.store.Create(ctx, s)
	if !sa.answerChange(w, "create site", err) {
		return
	}
	sa.reload(ctx)
	w.Header().Set("Location", "/api/v1/sites/"+created.ID)
	writeJSONStatus(w, http.StatusCreated, inOwnZone(created))
}

// update answers PATCH (or PUT) /api/v1/sites/{id} with the settings to
// change; the others stay.
func (sa *siteAdmin) update(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	ctx, cancel := sa.ctx(r)
	defer cancel()
	var bodyOK bool
	var currency string
	changed, err := sa.store.Update(ctx, id, func(s *sites.Site) error {
		currency = s.Currency
		if bodyOK = siteBody(w, r, s); !bodyOK {
			return errAnswered
		}
		if s.ID != id {
			return errors.New("id: a site's id cannot change")
		}
		return nil
	})
	if !bodyOK && err == errAnswered {
		return
	}
	if !sa.answerChange(w, "update site", err) {
		return
	}
	sa.reload(ctx)
	// The people table's revenue is in the site's currency: its buyers are
	// recomputed by the next refreshes (those within ten reloads of the
	// registry, so that the processor's has read the new currency).
	if changed.Currency != currency {
		if err := money.MarkSiteBuyers(ctx, sa.db, id, 10*sites.DefaultReload); err != nil {
			sa.api.fail(w, "mark the site's buyers for the new currency", err)
			return
		}
	}
	writeJSON(w, inOwnZone(changed))
}

// errAnswered says the request was answered already.
var errAnswered = errors.New("answered")

// addKey answers POST /api/v1/sites/{id}/keys {"name"}: 201 with the new
// server API key, shown this once, and its id (to revoke it).
func (sa *siteAdmin) addKey(w http.ResponseWriter, r *http.Request) {
	var b struct {
		Name string `json:"name"`
	}
	if r.ContentLength != 0 {
		if err := readBody(w, r, 4<<10, &b); err != nil {
			writeError(w, http.StatusBadRequest, fmt.Errorf("body: want {\"name\": \"...\"}: %w", err))
			return
		}
	}
	ctx, cancel := sa.ctx(r)
	defer cancel()
	key, k, err := sa.store.AddKey(ctx, r.PathValue("id"), b.Name)
	if !sa.answerChange(w, "add key", err) {
		return
	}
	sa.reload(ctx)
	writeJSONStatus(w, http.StatusCreated, struct {
		Key     string    `json:"key"`
		ID      string    `json:"id"`
		Name    string    `json:"name"`
		Created time.Time `json:"created_at"`
		Note    string    `json:"note"`
	}{key, k.ID, k.Name, k.Created, "the key is shown this once: the registry keeps only its hash"})
}

// revokeKey answers DELETE /api/v1/sites/{id}/keys/{key}: the key stops
// working everywhere within -sites-reload.
func (sa *siteAdmin) revokeKey(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := sa.ctx(r)
	defer cancel()
	err := sa.store.RevokeKey(ctx, r.PathValue("id"), r.PathValue("key"))
	if !sa.answerChange(w, "revoke key", err) {
		return
	}
	sa.reload(ctx)
	w.WriteHeader(http.StatusNoContent)
}

func writeJSONStatus(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func siteLog(what string, err error) { slog.Warn("sites: "+what, "err", err) }

// answerChange answers a change's error: 404 for no such site or key,
// 409 for an id taken, 500 for ClickHouse, 400 for the settings'.
func (sa *siteAdmin) answerChange(w http.ResponseWriter, what string, err error) bool {
	switch {
	case err == nil:
		return true
	case errors.Is(err, sites.ErrNotFound), errors.Is(err, sites.ErrNoKey):
		writeError(w, http.StatusNotFound, err)
	case errors.Is(err, sites.ErrExists):
		writeError(w, http.StatusConflict, err)
	case errors.Is(err, sites.ErrStore):
		sa.api.fail(w, what, err)
	default:
		writeError(w, http.StatusBadRequest, err)
	}
	return false
}
