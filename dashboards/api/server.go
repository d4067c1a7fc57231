package api

import (
	"net/http"

	"footfall/internal/campaigns"
	"footfall/internal/chsql"
	"footfall/internal/profiles"
	"footfall/internal/segments"
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
// their recipients, manual classes and populations, erasure. Its methods,
// the handlers of the requests that change something, are the only ones
// that hold the connection that writes; no report can reach it. They read
// through it too what they have just changed, and answer through api.
type writer struct {
	api       *API
	people    *profiles.Store
	segments  *segments.Store
	campaigns *campaigns.Store
	importer  *imports.Importer
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
		campaigns: campaigns.NewStore(writable.DB()), importer: imports.NewImporter(writable).SignTokens(cfg.Links)}}
}

// SetErasureSecret keys the tombstones an erasure writes and an import
// checks: the processor's -erasure-secret.
func (s *Server) SetErasureSecret(secret string) {
	s.write.people.SetErasureSecret(secret)
	s.write.importer.SetErasureSecret(secret)
}

// Register mounts the API's routes on mux.
func (s *Server) Register(mux *http.ServeMux) {
	a, wr := s.read, s.write
	s.registerSites(mux, a.private)
	mux.HandleFunc("GET /api/v1/overview", a.auth(a.overview))
	mux.HandleFunc("GET /api/v1/breakdown", a.auth(a.breakdown))
	mux.HandleFunc("GET /api/v1/timeseries", a.auth(a.timeseries))
	mux.HandleFunc("GET /api/v1/funnel", a.auth(a.funnel))
	mux.HandleFunc("GET /api/v1/realtime", a.auth(a.realtime))
	mux.HandleFunc("GET /api/v1/affiliates", a.auth(a.affiliates))
	mux.HandleFunc("GET /api/v1/affiliates/link", a.auth(a.affiliateLink))
	mux.HandleFunc("GET /api/v1/recently-viewed", a.auth(a.recentlyViewed))
	mux.HandleFunc("GET /api/v1/lifecycle", a.auth(a.lifecycle))
	mux.HandleFunc("GET /api/v1/profile", a.private(a.profile))
	mux.HandleFunc("DELETE /api/v1/profile", a.private(wr.erase))
	mux.HandleFunc("POST /api/v1/profile/export", a.private(a.export))
	mux.HandleFunc("GET /api/v1/profile/export", a.private(a.exportByURL))
	mux.HandleFunc("POST /api/v1/profile/manual", a.private(wr.manual))
	mux.HandleFunc("GET /api/v1/segments", a.private(a.listSegments))
	mux.HandleFunc("POST /api/v1/segments", a.private(wr.createSegment))
	mux.HandleFunc("GET /api/v1/segments/{id}", a.private(a.getSegment))
	mux.HandleFunc("PUT /api/v1/segments/{id}", a.private(wr.updateSegment))
	mux.HandleFunc("DELETE /api/v1/segments/{id}", a.private(wr.deleteSegment))
	mux.HandleFunc("GET /api/v1/segments/{id}/members", a.private(a.members))
	mux.HandleFunc("GET /api/v1/segments/{id}/export.csv", a.private(a.exportCSV))
	mux.HandleFunc("GET /api/v1/segments/{id}/sizes", a.private(a.sizes))
	mux.HandleFunc("GET /api/v1/consents/export.csv", a.private(a.consentLedger))
	mux.HandleFunc("GET /api/v1/campaigns", a.private(a.listCampaigns))
	mux.HandleFunc("POST /api/v1/campaigns", a.private(wr.createCampaign))
	mux.HandleFunc("POST /api/v1/campaigns/{id}/recipients", a.private(wr.addRecipients))
	mux.HandleFunc("GET /api/v1/campaigns/{id}/recipients", a.private(a.recipients))
	// Rewriting a newsletter's links writes nothing: it reads the campaign.
	mux.HandleFunc("POST /api/v1/campaigns/{id}/rewrite", a.private(a.rewrite))
	mux.HandleFunc("GET /api/v1/campaigns/{id}/report", a.private(a.report))
	mux.HandleFunc("GET /api/v1/campaigns-compare", a.private(a.compare))
	mux.HandleFunc("GET /api/v1/rates", a.auth(a.listRates))
	mux.HandleFunc("POST /api/v1/rates", a.private(wr.loadRates))
}
