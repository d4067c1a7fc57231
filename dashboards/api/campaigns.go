package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"footfall/internal/campaigns"
	"footfall/internal/csvexport"
	"footfall/internal/links"
	"footfall/processor/imports"
)

func (a *API) campaignOf(w http.ResponseWriter, r *http.Request, ctx context.Context) (campaigns.Campaign, bool) {
	site, ok := siteOf(w, r)
	if !ok {
		return campaigns.Campaign{}, false
	}
	c, err := a.campaigns.Get(ctx, site, r.PathValue("id"))
	if errors.Is(err, campaigns.ErrNotFound) {
		writeError(w, http.StatusNotFound, err)
		return c, false
	}
	if err != nil {
		a.fail(w, "campaign", err)
		return c, false
	}
	return c, true
}

// createCampaign answers POST /api/v1/campaigns: {"site", "name", "id",
// "purpose", "sent_at", "cost", "currency"}; the id (its utm_campaign) is
// made from the name when left out.
func (wr *writer) createCampaign(w http.ResponseWriter, r *http.Request) {
	var c campaigns.Campaign
	if !decode(w, r, &c) {
		return
	}
	if !siteID.MatchString(c.Site) {
		writeError(w, http.StatusBadRequest, errSite)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	c, err := wr.campaigns.Save(ctx, c)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(wr.api.inSiteZone(c.Site, c))
}

// listCampaigns answers GET /api/v1/campaigns?site=.
func (a *API) listCampaigns(w http.ResponseWriter, r *http.Request) {
	site, ok := siteOf(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	list, err := a.campaigns.List(ctx, site)
	if err != nil {
		a.fail(w, "campaigns", err)
		return
	}
	a.writeLocal(w, site, list)
}

// addRecipients answers POST /api/v1/campaigns/{id}/recipients?site=: a
// CSV (Content-Type text/csv; a header line naming email and optionally
// external_id; imports.ReadCSV says how it is read) or JSON {"recipients":
// [{"email", "external_id"}], "consent_wording": "..."}. The valid rows
// are imported and each other row is named with its line (of the CSV, or
// place in the list) and why: {"added", "sent", "rejected": [{"line",
// "email", "reason"}], "not_subscribed": [...]}. Sent is the number of
// recipients; not_subscribed, those whose unsubscribe the import's
// consent did not undo.
func (wr *writer) addRecipients(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Minute)
	defer cancel()
	c, ok := wr.api.campaignOf(w, r, ctx)
	if !ok {
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 256<<20))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Errorf("body: %w", err))
		return
	}
	var in []campaigns.Recipient
	var wording string
	var unread []imports.Rejected
	if strings.HasPrefix(r.Header.Get("Content-Type"), "text/csv") {
		in, unread, err = imports.ReadCSV(body)
		wording = r.URL.Query().Get("consent_wording")
	} else {
		in, wording, unread, err = imports.ReadJSON(body)
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	res, err := wr.importer.Add(ctx, c, in, wording)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	all, err := wr.campaigns.Recipients(ctx, c)
	if err != nil {
		wr.api.fail(w, "recipients", err)
		return
	}
	rejected := append(unread, res.Rejected...)
	sort.SliceStable(rejected, func(i, j int) bool { return rejected[i].Line < rejected[j].Line })
	if rejected == nil {
		rejected = []imports.Rejected{}
	}
	notSubscribed := res.NotSubscribed
	if notSubscribed == nil {
		notSubscribed = []imports.Rejected{}
	}
	writeJSON(w, importAnswer{Added: len(res.Added), Sent: len(all), Rejected: rejected, NotSubscribed: notSubscribed})
}

// importAnswer is what an import of recipients did. NotSubscribed are
// recipients added without the consent the import states, since their
// latest proven word was an unsubscribe (imports.Result).
type importAnswer struct {
	Added         int                `json:"added"`
	Sent          int                `json:"sent"`
	Rejected      []imports.Rejected `json:"rejected"`
	NotSubscribed []imports.Rejected `json:"not_subscribed"`
}

// recipientLinks is a recipient with the links an e-mail tool merges in.
type recipientLinks struct {
	campaigns.Recipient
	OpenURL        string `json:"open_url"`
	UnsubscribeURL string `json:"unsubscribe_url,omitempty"`
}

// recipients answers GET /api/v1/campaigns/{id}/recipients?site=[&format=csv]:
// every recipient's token, open pixel and signed unsubscribe link, for the
// e-mail tool's merge fields.
func (a *API) recipients(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), time.Minute)
	defer cancel()
	c, ok := a.campaignOf(w, r, ctx)
	if !ok {
		return
	}
	list, err := a.campaigns.Recipients(ctx, c)
	if err != nil {
		a.fail(w, "recipients", err)
		return
	}
	out := make([]recipientLinks, len(list))
	for i, rc := range list {
		out[i] = recipientLinks{Recipient: rc, OpenURL: links.OpenURL(a.cfg.CollectorURL, rc.Token)}
		if a.cfg.Links != nil {
			out[i].UnsubscribeURL = a.cfg.Links.UnsubscribeURL(a.cfg.CollectorURL, rc.Token)
		}
	}
	if r.URL.Query().Get("format") != "csv" {
		a.writeLocal(w, c.Site, out)
		return
	}
	dialect := csvDialect(r)
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="recipients-`+c.ID+`.csv"`)
	cw := csvexport.NewDialectWriter(w, dialect)
	cw.Write([]string{"email", "external_id", "ff_token", "open_url", "unsubscribe_url"})
	for _, rc := range out {
		cw.Write([]string{rc.Email, rc.ExternalID, rc.Token, rc.OpenURL, rc.UnsubscribeURL})
	}
	cw.Flush()
}

// rewrite answers POST /api/v1/campaigns/{id}/rewrite?site=: the
// newsletter's HTML in, the HTML with signed click links and an open
// pixel out (the token left as {{ff_token}} for the e-mail tool), with
// the counts of links tracked and left untracked in headers; with
// &format=json, {"html", "links", "untracked"}: each link left as it was
// with its line and why.
func (a *API) rewrite(w http.ResponseWriter, r *http.Request) {
	if a.cfg.Links == nil || a.cfg.CollectorURL == "" {
		writeError(w, http.StatusServiceUnavailable, errors.New("link rewriting needs -link-secret and -collector-url"))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	c, ok := a.campaignOf(w, r, ctx)
	if !ok {
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 4<<20))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Errorf("body: %w", err))
		return
	}
	res, err := a.cfg.Links.Rewrite(string(body), a.cfg.CollectorURL, c.ID)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	w.Header().Set("X-Footfall-Links", strconv.Itoa(len(res.Links)))
	w.Header().Set("X-Footfall-Untracked", strconv.Itoa(len(res.Untracked)))
	if r.URL.Query().Get("format") == "json" {
		writeJSON(w, res)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	io.WriteString(w, res.HTML)
}

// report answers GET /api/v1/campaigns/{id}/report?site=&window_days=7.
func (a *API) report(w http.ResponseWriter, r *http.Request) {
	window, ok := windowDays(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	c, ok := a.campaignOf(w, r, ctx)
	if !ok {
		return
	}
	rep, err := a.campaigns.Report(ctx, c, window)
	if err != nil {
		a.fail(w, "campaign report", err)
		return
	}
	if wantsCSV(r) {
		writeReports(w, r, c.Site, []campaigns.Report{rep})
		return
	}
	a.writeLocal(w, c.Site, rep)
}

// compare answers GET /api/v1/campaigns-compare?site=&ids=a,b,c: reports
// side by side.
func (a *API) compare(w http.ResponseWriter, r *http.Request) {
	window, ok := windowDays(w, r)
	if !ok {
		return
	}
	site := r.URL.Query().Get("site")
	ids := strings.Split(r.URL.Query().Get("ids"), ",")
	if !siteID.MatchString(site) || len(ids) == 0 || ids[0] == "" || len(ids) > 20 {
		writeError(w, http.StatusBadRequest, errors.New("site and ids (1 to 20 campaign ids, comma-separated) are required"))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), time.Minute)
	defer cancel()
	out := []campaigns.Report{}
	for _, id := range ids {
		c, err := a.campaigns.Get(ctx, site, id)
		if errors.Is(err, campaigns.ErrNotFound) {
			writeError(w, http.StatusNotFound, fmt.Errorf("campaign %q: %w", id, err))
			return
		}
		if err != nil {
			a.fail(w, "campaign", err)
			return
		}
		rep, err := a.campaigns.Report(ctx, c, window)
		if err != nil {
			a.fail(w, "campaign report", err)
			return
		}
		out = append(out, rep)
	}
	if wantsCSV(r) {
		writeReports(w, r, site, out)
		return
	}
	a.writeLocal(w, site, out)
}

func windowDays(w http.ResponseWriter, r *http.Request) (time.Duration, bool) {
	days := 7
	if s := r.URL.Query().Get("window_days"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 365 {
			writeError(w, http.StatusBadRequest, errors.New("window_days must be 1 to 365"))
			return 0, false
		}
		days = n
	}
	return time.Duration(days) * 24 * time.Hour, true
}

// writeReports answers campaign reports as a CSV file, a campaign a line.
func writeReports(w http.ResponseWriter, r *http.Request, site string, reps []campaigns.Report) {
	t := Table{Report: "campaigns", Site: site, Columns: []string{"campaign", "name", "sent", "unique_opens", "unique_opens_human",
		"unique_opens_machine", "unique_clicks", "clicks", "click_to_open_rate", "unsubscribes", "site_sessions", "orders", "revenue", "roi"}}
	for _, c := range reps {
		roi := ""
		if c.ROI != nil {
			roi = strconv.FormatFloat(*c.ROI, 'f', -1, 64)
		}
		t.Rows = append(t.Rows, []any{c.ID, c.Name, c.Sent, c.Opened, c.OpenedHuman, c.OpenedOnlyBy, c.Clicked, c.Clicks,
			c.ClickToOpen, c.Unsubscribed, c.Sessions, c.Orders, c.Revenue, roi})
	}
	writeTable(w, r, t)
}
