package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"footfall/internal/goals"
	"footfall/internal/reports"
)

// Saved goals (issue #26): an editor creates and deletes a site's goals;
// a viewer reads them with their figures for the period and the page's
// filters (reports.Goals, through the reports' one filter path).

// goalBody is what POST /api/v1/goals takes.
type goalBody struct {
	Site  string `json:"site"`
	Name  string `json:"name"`
	Kind  string `json:"kind"`
	Value string `json:"value"`
}

// listGoals answers GET /api/v1/goals?site=&from=&to=&filter=...: each
// goal with its conversions (the period's visitors who reached it), its
// conversion rate (of the period's visitors) and, for an order goal,
// the revenue; format=csv as every report.
func (a *API) listGoals(w http.ResponseWriter, r *http.Request) {
	p, ok := a.reportParams(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	defined, err := goals.NewStore(a.db).List(ctx, p.Site)
	if err != nil {
		a.fail(w, "goals", err)
		return
	}
	t, err := reports.Goals(ctx, a.db, p, defined)
	a.answer(w, r, "goals", t, err)
}

// createGoal answers POST /api/v1/goals with the goal stored (201).
func (wr *writer) createGoal(w http.ResponseWriter, r *http.Request) {
	var b goalBody
	if !decode(w, r, &b) {
		return
	}
	if b.Site == "" {
		b.Site = r.URL.Query().Get("site")
	}
	if !siteID.MatchString(b.Site) {
		writeError(w, http.StatusBadRequest, errSite)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	g, err := wr.goals.Create(ctx, reports.Goal{Site: b.Site, Name: b.Name, Kind: b.Kind, Value: b.Value})
	var bad *reports.InputError
	switch {
	case errors.As(err, &bad):
		writeError(w, http.StatusBadRequest, err)
	case err != nil:
		wr.api.fail(w, "create goal", err)
	default:
		writeJSONStatus(w, http.StatusCreated, wr.api.inSiteZone(g.Site, g))
	}
}

// deleteGoal answers DELETE /api/v1/goals/{id}?site= (204, 404).
func (wr *writer) deleteGoal(w http.ResponseWriter, r *http.Request) {
	site, ok := siteOf(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	switch err := wr.goals.Delete(ctx, site, r.PathValue("id")); {
	case errors.Is(err, goals.ErrNotFound):
		writeError(w, http.StatusNotFound, err)
	case err != nil:
		wr.api.fail(w, "delete goal", err)
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

// Goal is a saved goal.
type Goal = reports.Goal
