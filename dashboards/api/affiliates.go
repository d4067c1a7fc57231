package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"time"

	"footfall/internal/reports"
)

// affiliates answers GET /api/v1/affiliates?site=&from=&to=&window_days=30:
// per affiliate id or partner site, the visitors and sessions it brought,
// the orders they placed within window_days of arriving, the revenue and
// the commission due.
func (a *API) affiliates(w http.ResponseWriter, r *http.Request) {
	p, ok := a.reportParams(w, r)
	if !ok {
		return
	}
	days, err := intParam(r.URL.Query().Get("window_days"), 30, 1, 365)
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("window_days: %w", err))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	t, err := reports.Affiliates(ctx, a.db, p, days, a.commission(p.Site))
	a.answer(w, r, "affiliates", t, err)
}

var affiliateID = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// affiliateLink answers GET /api/v1/affiliates/link?url=&affiliate=: the
// landing URL an affiliate should use, with its id (aff) and UTM tags.
func (a *API) affiliateLink(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	id := q.Get("affiliate")
	if !affiliateID.MatchString(id) {
		writeError(w, http.StatusBadRequest, errors.New("affiliate: want letters, digits, _ . -, up to 64"))
		return
	}
	u, err := url.Parse(q.Get("url"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		writeError(w, http.StatusBadRequest, errors.New("url: want an absolute http or https URL"))
		return
	}
	v := u.Query()
	v.Set("aff", id)
	v.Set("utm_source", id)
	v.Set("utm_medium", "affiliate")
	if c := q.Get("campaign"); c != "" {
		v.Set("utm_campaign", c)
	}
	u.RawQuery = v.Encode()
	writeJSON(w, map[string]string{"affiliate": id, "url": u.String()})
}
