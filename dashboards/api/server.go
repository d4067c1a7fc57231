package api

import (
	"net/http"

	"footfall/internal/access"
	"footfall/internal/campaigns"
	"footfall/internal/chsql"
	"footfall/internal/goals"
	"footfall/internal/profiles"
	"footfall/internal/segments"
	"footfall/internal/weekly"
	"footfall/processor/chstore"
	"footfall/processor/imports"
)

// Server is the API: its reports and reads (API), on a connection that
// may not write, and its few writes (writer), on one that may.
type Server struct {
	read  *API
	write *writer
}

// writer is the API's narrow write path: segment definitions, campaigns and
// their recipients, manual classes and populations, erasure, and the
// access export and the profile (reads, which keep the person's
// identifiers in a table of their own, made and dropped through this
// connection). Its methods,
// the handlers of the requests that change something, are the only ones
// that hold the connection that writes; no report can reach it. They read
// through it too what they have just changed, and answer through api.
type writer struct {
	api       *API
	people    *profiles.Store
	segments  *segments.Store
	campaigns *campaigns.Store
	importer  *imports.Importer
	reports   *weekly.Store
	goals     *goals.Store
}

// New returns the API: every report and read on reader, which it never
// writes through (open it as a read-only user: a GET never writes), and
// the few writes on writable.
func New(reader *chsql.Conn, writable *chstore.Store, cfg Config) *Server {
	a := newAPI(reader, cfg)
	people := profiles.NewStore(writable.DB(), cfg.Rules)
	a.wireSites()
	if cfg.Sites != nil {
		people.SetSiteRules(profiles.SiteRules(cfg.Sites))
	}
	return &Server{read: a, write: &writer{api: a, people: people, segments: segments.NewStore(people),
		campaigns: campaigns.NewStore(writable.DB()), importer: imports.NewImporter(writable).SignTokens(cfg.Links),
		reports: weekly.NewStore(writable.DB()), goals: goals.NewStore(writable.DB())}}
}

// SetErasureSecret keys the tombstones an erasure writes and an import
// checks: the processor's -erasure-secret.
func (s *Server) SetErasureSecret(secret string) {
	s.write.people.SetErasureSecret(secret)
	s.write.importer.SetErasureSecret(secret)
}

// Mux is what routes are mounted on: an *http.ServeMux, or a test's
// recorder of the patterns (the OpenAPI check, dashboards/app).
type Mux interface {
	Handle(pattern string, handler http.Handler)
	HandleFunc(pattern string, handler func(http.ResponseWriter, *http.Request))
}

// Register mounts the API's routes on mux.
func (s *Server) Register(mux Mux) {
	a, wr := s.read, s.write
	s.registerSites(mux, a.adminOnly)
	mux.HandleFunc("GET /api/v1/overview", a.guard(access.Reports, a.overview))
	mux.HandleFunc("GET /api/v1/breakdown", a.guard(access.Reports, a.breakdown))
	mux.HandleFunc("GET /api/v1/timeseries", a.guard(access.Reports, a.timeseries))
	mux.HandleFunc("GET /api/v1/funnel", a.guard(access.Reports, a.funnel))
	mux.HandleFunc("GET /api/v1/realtime", a.guard(access.Reports, a.realtime))
	mux.HandleFunc("GET /api/v1/affiliates", a.guard(access.Reports, a.affiliates))
	mux.HandleFunc("GET /api/v1/affiliates/link", a.guard(access.Reports, a.affiliateLink))
	mux.HandleFunc("GET /api/v1/recently-viewed", a.guard(access.Public, a.recentlyViewed))
	mux.HandleFunc("GET /api/v1/lifecycle", a.guard(access.Reports, a.lifecycle))
	mux.HandleFunc("GET /api/v1/profile", a.guard(access.Read, wr.profile))
	mux.HandleFunc("DELETE /api/v1/profile", a.guardBody(access.Write, wr.erase))
	mux.HandleFunc("POST /api/v1/profile/export", a.guardBody(access.Read, wr.export))
	mux.HandleFunc("GET /api/v1/profile/export", a.guard(access.Read, a.exportByURL))
	mux.HandleFunc("POST /api/v1/profile/manual", a.guard(access.Write, wr.manual))
	mux.HandleFunc("GET /api/v1/classes", a.guard(access.Reports, a.labels))
	mux.HandleFunc("GET /api/v1/segments", a.guard(access.Reports, a.listSegments))
	mux.HandleFunc("POST /api/v1/segments", a.guardBody(access.Write, wr.createSegment))
	mux.HandleFunc("GET /api/v1/segments/{id}", a.guard(access.Reports, a.getSegment))
	mux.HandleFunc("PUT /api/v1/segments/{id}", a.guardBody(access.Write, wr.updateSegment))
	mux.HandleFunc("DELETE /api/v1/segments/{id}", a.guard(access.Write, wr.deleteSegment))
	mux.HandleFunc("GET /api/v1/segments/{id}/members", a.guard(access.Read, a.members))
	mux.HandleFunc("GET /api/v1/segments/{id}/export.csv", a.guard(access.Read, a.exportCSV))
	mux.HandleFunc("GET /api/v1/segments/{id}/sizes", a.guard(access.Reports, a.sizes))
	mux.HandleFunc("GET /api/v1/consents/export.csv", a.guard(access.Read, a.consentLedger))
	mux.HandleFunc("GET /api/v1/goals", a.guard(access.Reports, a.listGoals))
	mux.HandleFunc("POST /api/v1/goals", a.guardBody(access.Write, wr.createGoal))
	mux.HandleFunc("DELETE /api/v1/goals/{id}", a.guard(access.Write, wr.deleteGoal))
	mux.HandleFunc("GET /api/v1/campaigns", a.guard(access.Reports, a.listCampaigns))
	mux.HandleFunc("POST /api/v1/campaigns", a.guardBody(access.Write, wr.createCampaign))
	mux.HandleFunc("POST /api/v1/campaigns/{id}/recipients", a.guard(access.Write, wr.addRecipients))
	mux.HandleFunc("POST /api/v1/customers/import", a.guard(access.Write, wr.importCustomers))
	mux.HandleFunc("GET /api/v1/campaigns/{id}/recipients", a.guard(access.Write, a.recipients))
	// Rewriting a newsletter's links writes nothing: it reads the campaign.
	mux.HandleFunc("POST /api/v1/campaigns/{id}/rewrite", a.guard(access.Write, a.rewrite))
	mux.HandleFunc("GET /api/v1/campaigns/{id}/report", a.guard(access.Reports, a.report))
	mux.HandleFunc("GET /api/v1/campaigns-compare", a.guard(access.Reports, a.compare))
	mux.HandleFunc("GET /api/v1/rates", a.guard(access.Reports, a.listRates))
	mux.HandleFunc("POST /api/v1/rates", a.adminOnly(wr.loadRates))
	// The weekly e-mail report's recipients (reportmail.go).
	mux.HandleFunc("GET /api/v1/report-emails", a.guard(access.Write, a.reportEmails))
	mux.HandleFunc("PUT /api/v1/report-emails", a.guardBody(access.Write, wr.setReportEmails))
	// The API's description, for anyone (openapi.go).
	mux.HandleFunc("GET /api/v1/openapi.json", openAPI)

	// Accounts (auth.go, accounts.go).
	mux.HandleFunc("POST /api/v1/login", a.login)
	mux.HandleFunc("POST /api/v1/logout", a.logout)
	mux.HandleFunc("GET /share/{secret}", a.share)
	mux.HandleFunc("OPTIONS /api/v1/recently-viewed", preflight)
	mux.HandleFunc("GET /api/v1/me", a.guard(access.Public, a.me))
	mux.HandleFunc("GET /api/v1/users", a.adminOnly(a.listUsers))
	mux.HandleFunc("PUT /api/v1/users/{name}", a.adminOnly(a.saveUser))
	mux.HandleFunc("DELETE /api/v1/users/{name}", a.adminOnly(a.deleteUser))
	mux.HandleFunc("GET /api/v1/tokens", a.adminOnly(a.listCredentials(access.KindToken)))
	mux.HandleFunc("POST /api/v1/tokens", a.adminOnly(a.newToken))
	mux.HandleFunc("DELETE /api/v1/tokens/{id}", a.adminOnly(a.revoke(access.KindToken)))
	mux.HandleFunc("GET /api/v1/shares", a.guard(access.Write, a.listCredentials(access.KindShare)))
	mux.HandleFunc("POST /api/v1/shares", a.guardBody(access.Write, a.newShare))
	mux.HandleFunc("DELETE /api/v1/shares/{id}", a.guard(access.Write, a.revoke(access.KindShare)))
	mux.HandleFunc("GET /api/v1/keys", a.guard(access.Write, a.listCredentials(access.KindKey)))
	mux.HandleFunc("POST /api/v1/keys", a.guardBody(access.Write, a.newKey))
	mux.HandleFunc("DELETE /api/v1/keys/{id}", a.guard(access.Write, a.revoke(access.KindKey)))
}
