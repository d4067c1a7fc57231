package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"footfall/internal/reports"
)

// funnel answers GET /api/v1/funnel?site=&from=&to=&step=type==pageview;page^=/shoes
// &step=type==add_to_cart&step=type==purchase&window=86400&sample=off: per
// step, the visitors who reached it in order, the share of the first step's
// who did (conversion) and the share of the previous step's who did not
// (drop-off). A step is one or more filters joined by ";". Past twice
// Config.Funnels' events (a million by default) the visitors are estimated
// from a sample of them (the answer's "sample" and the Footfall-Sample
// header: one visitor in that many); sample=off follows every visitor,
// sample=auto (the default) does not.
func (a *API) funnel(w http.ResponseWriter, r *http.Request) {
	p, ok := a.reportParams(w, r)
	if !ok {
		return
	}
	if strings.Contains(r.URL.RawQuery, ";") {
		// Go's query parser drops a pair with a bare ";" in it.
		writeError(w, http.StatusBadRequest, errors.New("step: encode ';' as %3B in the query string"))
		return
	}
	q := r.URL.Query()
	window, err := intParam(q.Get("window"), 86400, 1, 90*86400)
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("window: %w", err))
		return
	}
	sampling := a.cfg.Funnels
	switch q.Get("sample") {
	case "", "auto":
	case "off":
		sampling.Off = true
	default:
		writeError(w, http.StatusBadRequest, errors.New("sample: want auto (a large period's funnel follows a sample of its visitors) or off (every visitor)"))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	t, err := reports.Funnel(ctx, a.db, p, q["step"], window, sampling)
	a.answer(w, r, "funnel", t, err)
}
