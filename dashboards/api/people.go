package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"footfall/internal/chsql"
	"footfall/internal/csvexport"
	"footfall/internal/event"
	"footfall/internal/money"
	"footfall/internal/profiles"
)

// Profile is what GET /api/v1/profile answers.
type Profile struct {
	profiles.Person
	Key       string              `json:"person_key"`
	Visitors  []string            `json:"visitor_ids"`
	Manual    profiles.Override   `json:"manual"`
	Consents  []profiles.Consent  `json:"consents"`
	Interests []profiles.Interest `json:"interests"`
	Products  []Product           `json:"recently_viewed"`
	Timeline  []profiles.Event    `json:"timeline"`
	// Claims are the user ids browsers said its visitor ids were, which
	// join no one (profiles.Claim).
	Claims []profiles.Claim `json:"claims"`
}

// ref reads the site and the person of a people request.
func ref(q url.Values) (string, profiles.Ref, error) {
	site := q.Get("site")
	if !siteID.MatchString(site) {
		return "", profiles.Ref{}, errors.New("site is required: [A-Za-z0-9_.:@+-], up to 64 characters")
	}
	r := profiles.Ref{VisitorID: q.Get("visitor_id"), UserID: q.Get("user_id")}
	if r.UserID == "" {
		r.UserID = q.Get("email")
	}
	switch {
	case r.VisitorID == "" && r.UserID == "":
		return "", r, errors.New("name the person with visitor_id, user_id or email")
	case r.VisitorID != "" && !visitorID.MatchString(r.VisitorID):
		return "", r, errors.New("visitor_id: [A-Za-z0-9_.:@+-], up to 128 characters")
	case len(r.UserID) > event.Specs[event.UserID].MaxLen:
		return "", r, errors.New("user_id longer than 256 bytes")
	}
	return site, r, nil
}

func (a *API) personError(w http.ResponseWriter, what string, err error) {
	if errors.Is(err, profiles.ErrNotFound) {
		writeError(w, http.StatusNotFound, err)
		return
	}
	if errors.Is(err, profiles.ErrTooLinked) {
		writeError(w, http.StatusConflict, err)
		return
	}
	if errors.Is(err, profiles.ErrErased) {
		writeError(w, http.StatusGone, err)
		return
	}
	if errors.Is(err, profiles.ErrNodeDown) {
		w.Header().Set("Retry-After", "30")
		writeError(w, http.StatusServiceUnavailable, err)
		return
	}
	a.fail(w, what, err)
}

// profile answers GET /api/v1/profile?site=&visitor_id=|user_id=|email=:
// the person, their class and stage, consents, interests, recently viewed
// products, latest 50 events, and the user ids browsers claimed. It
// reads through the writing connection, as the export does: the
// person's visitor ids are kept in a Memory table of its own, made and
// dropped there, which every statement reads, so that a person of any
// number of visitor ids is shown (bound into the statements' text, some
// 20,000 ids passed ClickHouse's max_query_size). Its access is a read's.
func (wr *writer) profile(w http.ResponseWriter, r *http.Request) {
	site, pr, err := ref(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	a, people := wr.api, wr.people
	var out Profile
	what := "profile"
	err = people.WithPerson(ctx, site, pr, func(p profiles.Person, visitors []string, in profiles.Visitors) error {
		out = Profile{Person: p, Key: p.Key, Visitors: visitors}
		var err error
		steps := []struct {
			what string
			run  func() error
		}{
			{"manual changes", func() error { out.Manual, err = people.Manual(ctx, site, p.Key); return err }},
			{"consents", func() error { out.Consents, err = people.Consents(ctx, site, in); return err }},
			{"claims", func() error { out.Claims, err = people.Claims(ctx, site, in); return err }},
			{"interests", func() error { out.Interests, err = people.Interests(ctx, site, in, 10); return err }},
			{"timeline", func() error { out.Timeline, err = people.Events(ctx, site, in, 50); return err }},
			{"recently viewed", func() error { out.Products, err = a.viewed(ctx, site, in.SQL(), nil, 10); return err }},
		}
		for _, st := range steps {
			if what = st.what; st.run() != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		a.personError(w, what, err)
		return
	}
	out.localTimes(a.zone(site))
	writeJSON(w, out)
}

// manual answers POST /api/v1/profile/manual?site=&...: body
// {"class": "loyal", "populations": ["pro"]}; a field left out stays, a
// class of "" goes back to the computed one. A class is a lifecycle class
// or the shop's own words ("VIP", "clients fidèles": profiles.CheckClass).
// A person named by user_id or email whom the site has never seen gets a
// manual record under that id (201, "new_person": true), which applies
// once their events or an import bring them in; a visitor id the site has
// never seen is 404.
func (wr *writer) manual(w http.ResponseWriter, r *http.Request) {
	site, pr, err := ref(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	var body struct {
		Class       *string  `json:"class"`
		Populations []string `json:"populations"`
	}
	if !decode(w, r, &body) {
		return
	}
	for _, p := range body.Populations {
		if err := profiles.CheckPopulation(p); err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
	}
	if len(body.Populations) > 100 {
		writeError(w, http.StatusBadRequest, errors.New("at most 100 populations"))
		return
	}
	if body.Class != nil && *body.Class != "" {
		if err := profiles.CheckClass(*body.Class); err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	key, _, err := wr.people.Resolve(ctx, site, pr)
	created := false
	if errors.Is(err, profiles.ErrNotFound) && event.NormalizeUser(pr.UserID) != "" {
		key, created, err = event.NormalizeUser(pr.UserID), true, nil
	}
	if err != nil {
		wr.api.personError(w, "manual change", err)
		return
	}
	o, err := wr.people.SetOverride(ctx, site, key, body.Class, body.Populations)
	if err != nil {
		wr.api.personError(w, "manual change", err)
		return
	}
	if !created {
		writeJSON(w, o)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(struct {
		profiles.Override
		Key       string `json:"person_key"`
		NewPerson bool   `json:"new_person"`
	}{o, key, true})
}

// Labels is what GET /api/v1/classes answers: the lifecycle classes and
// stages, and the manual classes and populations the site's people have
// now, each with how many people have it; and the reporting currency
// people's revenue is in.
type Labels struct {
	Site        string          `json:"site"`
	Currency    string          `json:"currency"`
	TimeZone    string          `json:"time_zone"` // the site's, which the page shows dates in
	Lifecycle   []string        `json:"lifecycle"`
	Stages      []string        `json:"stages"`
	Classes     []profiles.Used `json:"classes"`
	Populations []profiles.Used `json:"populations"`
}

// labels answers GET /api/v1/classes?site=.
func (a *API) labels(w http.ResponseWriter, r *http.Request) {
	site, ok := siteOf(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	classes, pops, err := a.people.Labels(ctx, site)
	if err != nil {
		a.fail(w, "classes", err)
		return
	}
	cur := a.currency(site)
	if cur == "" {
		cur = money.DefaultCurrency
	}
	writeJSON(w, Labels{Site: site, Currency: cur, TimeZone: a.zone(site).String(), Lifecycle: profiles.Classes, Stages: profiles.Stages, Classes: classes, Populations: pops})
}

// personBody reads the site and the person of an export or an erasure
// from the request's JSON body, {"site": "shop", "email": "ann@x.example"}
// (or "user_id", "visitor_id"); the site may also be in the query string.
// The person is refused in the query string: a URL is written whole to
// proxies' and servers' access logs, which would keep a list of who asked
// for their data or to be erased.
func personBody(w http.ResponseWriter, r *http.Request) (string, profiles.Ref, error) {
	q := r.URL.Query()
	if err := personInURL(q); err != nil {
		return "", profiles.Ref{}, err
	}
	var body struct {
		Site      string `json:"site"`
		VisitorID string `json:"visitor_id"`
		UserID    string `json:"user_id"`
		Email     string `json:"email"`
	}
	if err := readBody(w, r, maxBody, &body); err != nil {
		if errors.Is(err, io.EOF) {
			err = errors.New(`name the person in a JSON body: {"site":"shop","email":"ann@example.com"} (or "user_id", "visitor_id")`)
		}
		return "", profiles.Ref{}, fmt.Errorf("body: %w", err)
	}
	if body.Site != "" && q.Has("site") && body.Site != q.Get("site") {
		return "", profiles.Ref{}, errors.New("site differs in the URL and the body")
	}
	v := url.Values{}
	for k, x := range map[string]string{"visitor_id": body.VisitorID, "user_id": body.UserID, "email": body.Email} {
		if x != "" {
			v.Set(k, x)
		}
	}
	v.Set("site", body.Site)
	if body.Site == "" {
		v.Set("site", q.Get("site"))
	}
	return ref(v)
}

// personInURL refuses a person named in the query string of an export or
// an erasure.
func personInURL(q url.Values) error {
	for _, k := range []string{"visitor_id", "user_id", "email"} {
		if q.Has(k) {
			return fmt.Errorf("%s in the URL: URLs are written to proxies' and servers' access logs; "+
				"send the person in the request body as JSON, e.g. {\"site\":\"shop\",\"email\":\"ann@example.com\"}", k)
		}
	}
	return nil
}

// erase answers DELETE /api/v1/profile, the person in the JSON body
// (personBody): every row about the person goes, in every table, before
// it answers.
func (wr *writer) erase(w http.ResponseWriter, r *http.Request) {
	site, pr, err := personBody(w, r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Minute)
	defer cancel()
	e, err := wr.people.Erase(ctx, site, pr)
	if err != nil {
		wr.api.personError(w, "erasure", err)
		return
	}
	writeJSON(w, e)
}

// export answers POST /api/v1/profile/export, the person in the JSON body
// (personBody): everything about the person as one JSON file. It reads
// through the writing connection: like the erasure, it keeps the
// person's identifiers in a Memory table of its own, made and dropped
// there, so that a person of any number of visitor ids is exported and
// no identifier is in the text of its statements. Its access is a read's.
func (wr *writer) export(w http.ResponseWriter, r *http.Request) {
	site, pr, err := personBody(w, r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), time.Minute)
	defer cancel()
	x, err := wr.people.Export(ctx, site, pr)
	if err != nil {
		wr.api.personError(w, "export", err)
		return
	}
	w.Header().Set("Content-Disposition", `attachment; filename="person.json"`)
	wr.api.writeLocal(w, site, x)
}

// exportByURL answers GET /api/v1/profile/export, which named the person
// in the URL before: 400 with what to send instead.
func (a *API) exportByURL(w http.ResponseWriter, r *http.Request) {
	if err := personInURL(r.URL.Query()); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	writeError(w, http.StatusBadRequest, errors.New(`the export is POST /api/v1/profile/export with the person in a JSON body: {"site":"shop","email":"ann@example.com"} (or "user_id", "visitor_id")`))
}

// Lifecycle counts people per class and per stage.
type Lifecycle struct {
	Site    string            `json:"site"`
	Classes map[string]uint64 `json:"classes"`
	Stages  map[string]uint64 `json:"stages"`
}

// qLifecycle counts the people of a site ({{people}}: profiles' people
// query) per class and stage.
var qLifecycle = chsql.New("api.lifecycle", `SELECT class, stage, count() FROM ({{people}}) GROUP BY class, stage`)

// lifecycle answers GET /api/v1/lifecycle?site=.
func (a *API) lifecycle(w http.ResponseWriter, r *http.Request) {
	site, ok := siteOf(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	q := a.people.Query(site)
	if err := a.people.AtBase(ctx, q); err != nil {
		a.fail(w, "lifecycle", err)
		return
	}
	people, args, err := q.SQL()
	if err != nil {
		a.fail(w, "lifecycle", err)
		return
	}
	out := Lifecycle{Site: site, Classes: map[string]uint64{}, Stages: map[string]uint64{}}
	for _, c := range profiles.Classes {
		out.Classes[c] = 0
	}
	for _, s := range profiles.Stages {
		out.Stages[s] = 0
	}
	err = a.each(ctx, qLifecycle.With(map[string]string{"people": people}), args, func(scan func(...any) error) error {
		var class, stage string
		var n uint64
		if err := scan(&class, &stage, &n); err != nil {
			return err
		}
		out.Classes[class] += n
		out.Stages[stage] += n
		return nil
	})
	if err != nil {
		a.fail(w, "lifecycle", err)
		return
	}
	if wantsCSV(r) {
		t := Table{Report: "lifecycle", Site: site, Columns: []string{"kind", "name", "people"}}
		for _, c := range profiles.Classes {
			t.Rows = append(t.Rows, []any{"class", c, out.Classes[c]})
		}
		for _, s := range profiles.Stages {
			t.Rows = append(t.Rows, []any{"stage", s, out.Stages[s]})
		}
		writeTable(w, r, t)
		return
	}
	writeJSON(w, out)
}

// qLedger is the consent ledger of a site with each row's person; the
// person key is the address once the visitor id is identified. An empty
// @purpose is every purpose.
var qLedger = chsql.New("api.consent_ledger", `SELECT time, `+profiles.PersonKey+` AS person_key, visitor_id, purpose, granted, source, wording, ip, proof, user_id
FROM (
    SELECT time, visitor_id, user_id, purpose, granted, source, wording, ip, proof, toString(event_id) AS eid FROM consents
    WHERE site_id = @site AND (@purpose = '' OR purpose = @purpose)
) AS c ANY LEFT JOIN (`+profiles.PersonMap+`) AS m USING visitor_id
ORDER BY time, visitor_id, eid, purpose`)

// consentLedger answers GET /api/v1/consents/export.csv?site=&purpose=:
// every consent, subscription and withdrawal ever recorded, oldest first,
// with when, how (source), the exact wording and the anonymised address:
// the proof of who agreed to what and when. Each entry says how it was
// proven (proof: server, link, confirmed, or claim: a browser's word, its
// person the visitor id, its user_id what the browser said), and the
// user id the event gave. The file is spooled: a query
// that fails is an error answer, never a cut ledger.
func (a *API) consentLedger(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	site, purpose := q.Get("site"), q.Get("purpose")
	if !siteID.MatchString(site) {
		writeError(w, http.StatusBadRequest, errSite)
		return
	}
	if purpose != "" && !purposeName.MatchString(purpose) {
		writeError(w, http.StatusBadRequest, errors.New("purpose: [A-Za-z0-9_.:-], up to 64 characters"))
		return
	}
	dialect := csvDialect(r)
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Minute)
	defer cancel()
	var file spool
	defer file.Close()
	out := csvexport.NewDialectWriter(&file, dialect)
	out.Write([]string{"time", "person", "visitor_id", "purpose", "granted", "source", "wording", "ip", "proof", "user_id"})
	loc := a.zone(site)
	err := a.each(ctx, qLedger, chsql.Args{"site": site, "purpose": purpose}, func(scan func(...any) error) error {
		var at time.Time
		var person, visitor, user, purpose, source, wording, ip, proof string
		var granted uint8
		if err := scan(&at, &person, &visitor, &purpose, &granted, &source, &wording, &ip, &proof, &user); err != nil {
			return err
		}
		g := "no"
		if granted == 1 {
			g = "yes"
		}
		return out.Write([]string{at.In(loc).Format(time.RFC3339), person, visitor, purpose, g, source, wording, ip, proof, user})
	})
	if err == nil {
		out.Flush()
		err = out.Error()
	}
	if err != nil {
		a.fail(w, "consent ledger", err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="consents-`+site+`.csv"`)
	if err := file.send(w); err != nil {
		slog.Warn("consent ledger not delivered", "err", err)
	}
}
