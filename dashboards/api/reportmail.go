package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"footfall/internal/weekly"
)

// ReportEmails is a site's list of weekly report addresses.
type ReportEmails struct {
	Site   string   `json:"site"`
	Emails []string `json:"emails"`
}

// reportEmails answers GET /api/v1/report-emails?site=: the addresses the
// site's weekly e-mail report goes to (internal/weekly).
func (a *API) reportEmails(w http.ResponseWriter, r *http.Request) {
	site, ok := siteOf(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	all, err := weekly.NewStore(a.db).Recipients(ctx, site)
	if err != nil {
		a.fail(w, "report recipients", err)
		return
	}
	emails := all[site]
	if emails == nil {
		emails = []string{}
	}
	writeJSON(w, ReportEmails{Site: site, Emails: emails})
}

// setReportEmails answers PUT /api/v1/report-emails with {"site",
// "emails": [...]}: the site's weekly report goes to these addresses (up
// to weekly.MaxRecipients; [] stops it), from the sender's next check: the
// last week's report, when it was not sent yet, then every Monday 08:00.
func (wr *writer) setReportEmails(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Site   string   `json:"site"`
		Emails []string `json:"emails"`
	}
	if !decode(w, r, &body) {
		return
	}
	if body.Site == "" {
		body.Site = r.URL.Query().Get("site")
	}
	if !siteID.MatchString(body.Site) {
		writeError(w, http.StatusBadRequest, errSite)
		return
	}
	if body.Emails == nil {
		writeError(w, http.StatusBadRequest, errors.New("emails is required: a list of addresses ([] stops the report)"))
		return
	}
	if _, err := weekly.CheckRecipients(body.Emails); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	saved, err := wr.reports.Set(ctx, body.Site, body.Emails)
	if err != nil {
		wr.api.fail(w, "save report recipients", err)
		return
	}
	writeJSON(w, ReportEmails{Site: body.Site, Emails: saved})
}
