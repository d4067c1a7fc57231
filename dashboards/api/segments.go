package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"footfall/internal/csvexport"
	"footfall/internal/profiles"
	"footfall/internal/segments"
)

var purposeName = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,64}$`)

// segmentBody is what POST and PUT /api/v1/segments take. Conditions are
// a list, all of which hold, or one group: {"any": [...]} or {"all": [...]}.
type segmentBody struct {
	Site       string          `json:"site"`
	Name       string          `json:"name"`
	Conditions json.RawMessage `json:"conditions"`
}

func readSegment(w http.ResponseWriter, r *http.Request) (segments.Segment, bool) {
	var b segmentBody
	if !decode(w, r, &b) {
		return segments.Segment{}, false
	}
	var conds []segments.Condition
	raw := bytes.TrimSpace(b.Conditions)
	if len(raw) > 0 && raw[0] == '{' {
		raw = append(append([]byte{'['}, raw...), ']')
	}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &conds); err != nil {
			writeError(w, http.StatusBadRequest, fmt.Errorf("conditions: a list of conditions or one group {\"any\": [...]}: %w", err))
			return segments.Segment{}, false
		}
	}
	if b.Site == "" {
		b.Site = r.URL.Query().Get("site")
	}
	if !siteID.MatchString(b.Site) {
		writeError(w, http.StatusBadRequest, errSite)
		return segments.Segment{}, false
	}
	return segments.Segment{Site: b.Site, Name: b.Name, Conditions: conds}, true
}

// SegmentInfo is a segment with its current size.
type SegmentInfo struct {
	segments.Segment
	Members uint64 `json:"members"`
}

// createSegment answers POST /api/v1/segments.
func (wr *writer) createSegment(w http.ResponseWriter, r *http.Request) {
	seg, ok := readSegment(w, r)
	if !ok {
		return
	}
	wr.saveSegment(w, r, seg, http.StatusCreated)
}

// updateSegment answers PUT /api/v1/segments/{id}.
func (wr *writer) updateSegment(w http.ResponseWriter, r *http.Request) {
	seg, ok := readSegment(w, r)
	if !ok {
		return
	}
	seg.ID = r.PathValue("id")
	if segments.IsBuiltin(seg.ID) {
		writeError(w, http.StatusBadRequest, errors.New("built-in segments follow the class rules and cannot be changed"))
		return
	}
	wr.saveSegment(w, r, seg, http.StatusOK)
}

// saveSegment checks and stores a definition, and answers it with its
// size, counted through the writer's connection right after the write.
func (wr *writer) saveSegment(w http.ResponseWriter, r *http.Request, seg segments.Segment, status int) {
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	// Check runs the count: a definition ClickHouse cannot evaluate is the
	// caller's mistake when compile refused it, ours otherwise.
	if _, err := segments.Compile(wr.people, seg.Site, seg.Conditions); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	saved, err := wr.segments.Save(ctx, seg)
	switch {
	case errors.Is(err, segments.ErrNotFound):
		writeError(w, http.StatusNotFound, err)
		return
	case err != nil && (strings.TrimSpace(seg.Name) == "" || len(seg.Name) > 200):
		writeError(w, http.StatusBadRequest, err)
		return
	case err != nil:
		wr.api.fail(w, "segment", err)
		return
	}
	n, err := wr.segments.Count(ctx, saved)
	if err != nil {
		wr.api.fail(w, "segment size", err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(wr.api.inSiteZone(saved.Site, SegmentInfo{saved, n}))
}

// listSegments answers GET /api/v1/segments?site=: built-in ones first.
func (a *API) listSegments(w http.ResponseWriter, r *http.Request) {
	site, ok := siteOf(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	defined, err := a.segments.List(ctx, site)
	if err != nil {
		a.fail(w, "segments", err)
		return
	}
	out := []segments.Segment{}
	for _, b := range segments.Builtin() {
		b.Site = site
		out = append(out, b)
	}
	a.writeLocal(w, site, append(out, defined...))
}

func (a *API) segmentOf(w http.ResponseWriter, r *http.Request, ctx context.Context) (segments.Segment, bool) {
	site, ok := siteOf(w, r)
	if !ok {
		return segments.Segment{}, false
	}
	seg, err := a.segments.Get(ctx, site, r.PathValue("id"))
	if errors.Is(err, segments.ErrNotFound) {
		writeError(w, http.StatusNotFound, err)
		return seg, false
	}
	if err != nil {
		a.fail(w, "segment", err)
		return seg, false
	}
	return seg, true
}

// getSegment answers GET /api/v1/segments/{id}?site=.
func (a *API) getSegment(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	seg, ok := a.segmentOf(w, r, ctx)
	if !ok {
		return
	}
	n, err := a.segments.Count(ctx, seg)
	if err != nil {
		a.fail(w, "segment size", err)
		return
	}
	a.writeLocal(w, seg.Site, SegmentInfo{seg, n})
}

// deleteSegment answers DELETE /api/v1/segments/{id}?site=.
func (wr *writer) deleteSegment(w http.ResponseWriter, r *http.Request) {
	if segments.IsBuiltin(r.PathValue("id")) {
		writeError(w, http.StatusBadRequest, errors.New("built-in segments cannot be deleted"))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	seg, ok := wr.api.segmentOf(w, r, ctx)
	if !ok {
		return
	}
	if err := wr.segments.Delete(ctx, seg.Site, seg.ID); err != nil {
		wr.api.fail(w, "delete segment", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// memberView is a member as the members list shows them: the order
// dates and days since the last order are null for a person who never
// ordered (the people query's placeholders, 1970-01-01 and 100000, are
// not shown).
type memberView struct {
	Key string `json:"person_key"`
	profiles.Person
	FirstOrder  *time.Time `json:"first_order"`
	LastOrder   *time.Time `json:"last_order"`
	DaysOrdered *int64     `json:"days_since_last_order"`
}

func viewOf(p profiles.Person) memberView {
	v := memberView{Key: p.Key, Person: p}
	if p.Orders > 0 {
		v.FirstOrder, v.LastOrder, v.DaysOrdered = &p.FirstOrder, &p.LastOrder, &p.DaysOrdered
	}
	return v
}

// members answers GET /api/v1/segments/{id}/members?site=&after=&limit=&consent=.
func (a *API) members(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := 100
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 1000 {
			writeError(w, http.StatusBadRequest, errors.New("limit must be 1 to 1000"))
			return
		}
		limit = n
	}
	consent := q.Get("consent")
	if consent != "" && !purposeName.MatchString(consent) {
		writeError(w, http.StatusBadRequest, errors.New("consent: a purpose name, [A-Za-z0-9_.:-]"))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	seg, ok := a.segmentOf(w, r, ctx)
	if !ok {
		return
	}
	page := []memberView{}
	err := a.segments.Members(ctx, seg, consent, q.Get("after"), limit+1, func(p profiles.Person) error {
		page = append(page, viewOf(p))
		return nil
	})
	if err != nil {
		a.fail(w, "members", err)
		return
	}
	var next string
	if len(page) > limit {
		page = page[:limit]
		next = page[limit-1].Key
	}
	// Next is the after= of the next page; empty on the last page.
	a.writeLocal(w, seg.Site, struct {
		Members []memberView `json:"members"`
		Next    string       `json:"next"`
	}{page, next})
}

// csvHeader is the export's first line: what an e-mail tool imports.
// Fields are quoted where they need it (encoding/csv); a person's
// populations are one field joined by "|" ("Pro B2B|revendeur"), a
// character no population has (profiles.CheckPopulation), and consents
// one joined by spaces (purpose names have none).
var csvHeader = []string{"email", "user_id", "class", "stage", "populations", "first_seen", "last_seen", "sessions", "orders", "revenue", "last_order", "consents"}

// exportCSV answers GET /api/v1/segments/{id}/export.csv?site=&consent=:
// every member, read page by page. With consent=newsletter, only people
// whose latest word on that purpose was yes are in it. The file is
// spooled: a page that fails is an error answer, never a cut file.
func (a *API) exportCSV(w http.ResponseWriter, r *http.Request) {
	consent := r.URL.Query().Get("consent")
	if consent != "" && !purposeName.MatchString(consent) {
		writeError(w, http.StatusBadRequest, errors.New("consent: a purpose name, [A-Za-z0-9_.:-]"))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Minute)
	defer cancel()
	seg, ok := a.segmentOf(w, r, ctx)
	if !ok {
		return
	}
	dialect := csvDialect(r)
	var file spool
	defer file.Close()
	out := csvexport.NewDialectWriter(&file, dialect)
	out.Write(csvHeader)
	const page = 5000
	after := ""
	for {
		var batch []profiles.Person
		err := a.segments.Members(ctx, seg, consent, after, page, func(p profiles.Person) error {
			batch = append(batch, p)
			return nil
		})
		if err == nil && len(batch) > 0 {
			err = a.writeCSV(ctx, out, seg.Site, batch)
		}
		if err != nil {
			a.fail(w, "segment export", err)
			return
		}
		if len(batch) < page {
			break
		}
		after = batch[len(batch)-1].Key
	}
	out.Flush()
	if err := out.Error(); err != nil {
		a.fail(w, "segment export", err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="segment-%s.csv"`, strings.ReplaceAll(seg.ID, ":", "-")))
	if err := file.send(w); err != nil {
		slog.Warn("segment export not delivered", "err", err)
	}
}

func (a *API) writeCSV(ctx context.Context, out *csvexport.Writer, site string, batch []profiles.Person) error {
	keys := make([]string, len(batch))
	for i, p := range batch {
		keys[i] = p.Key
	}
	consents, err := a.people.ConsentsOf(ctx, site, keys)
	if err != nil {
		return err
	}
	loc := a.zone(site)
	day := func(t time.Time) string { return t.In(loc).Format(time.DateOnly) }
	for _, p := range batch {
		email := ""
		if strings.Contains(p.UserID, "@") {
			email = p.UserID
		}
		lastOrder := ""
		if p.Orders > 0 {
			lastOrder = day(p.LastOrder)
		}
		out.Write([]string{email, p.UserID, p.Class, p.Stage, strings.Join(p.Populations, "|"),
			day(p.FirstSeen), day(p.LastSeen),
			strconv.FormatUint(p.Sessions, 10), strconv.FormatUint(p.Orders, 10),
			strconv.FormatFloat(p.Revenue, 'f', 2, 64), lastOrder, strings.Join(consents[p.Key], " ")})
	}
	out.Flush()
	return out.Error()
}

// sizes answers GET /api/v1/segments/{id}/sizes?site=&from=&to=.
func (a *API) sizes(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	seg, ok := a.segmentOf(w, r, ctx)
	if !ok {
		return
	}
	loc := a.zone(seg.Site)
	from, to, err := a.period(loc, r.URL.Query().Get("from"), r.URL.Query().Get("to"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	out, err := a.segments.Sizes(ctx, seg.Site, seg.ID, from, to)
	if err != nil {
		a.fail(w, "segment sizes", err)
		return
	}
	if wantsCSV(r) {
		t := Table{Report: "segment-sizes-" + seg.ID, Site: seg.Site, From: from, To: to, Columns: []string{"time", "members", "entered", "left"}}
		for _, s := range out {
			t.Rows = append(t.Rows, []any{s.Time.In(loc), s.Members, s.Entered, s.Left})
		}
		writeTable(w, r, t)
		return
	}
	a.writeLocal(w, seg.Site, out)
}
