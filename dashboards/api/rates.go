package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"footfall/internal/campaigns"
	"footfall/internal/chsql"
	"footfall/internal/money"
)

// Exchange rates: the table reports convert amounts with (internal/money).
// POST /api/v1/rates takes the ECB's CSV of daily rates as its body
// (eurofxref-hist.csv or the day's eurofxref.csv) and answers what the
// table then holds per currency, as GET /api/v1/rates does. The rates are
// every site's, so loading them is an administrator's change.

// maxRatesBody is the largest CSV a load takes: the ECB's whole history
// is about 1.5 MB.
const maxRatesBody = 32 << 20

// currency is site's reporting currency (the registry's), "" when unknown:
// the reports then use money.DefaultCurrency.
func (a *API) currency(site string) string {
	if a.cfg.Currency != nil {
		return a.cfg.Currency(site)
	}
	return ""
}

// campaignsIn is a campaign store reporting in each site's currency.
func campaignsIn(db *chsql.Conn, currency func(site string) string) *campaigns.Store {
	s := campaigns.NewStore(db)
	s.SetCurrency(currency)
	return s
}

// listRates answers which days the rate table holds for each currency.
func (a *API) listRates(w http.ResponseWriter, r *http.Request) {
	loaded, err := money.List(r.Context(), a.db)
	if err != nil {
		a.fail(w, "rates", err)
		return
	}
	writeJSON(w, map[string]any{"currencies": loaded})
}

// loadRates loads the CSV of rates in the body.
func (wr *writer) loadRates(w http.ResponseWriter, r *http.Request) {
	rates, err := money.ParseECB(http.MaxBytesReader(w, r.Body, maxRatesBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Errorf("body over %d MB", maxRatesBody>>20))
			return
		}
		writeError(w, http.StatusBadRequest, fmt.Errorf("rates: %w", err))
		return
	}
	db := wr.people.DB()
	n, err := money.Load(r.Context(), db, rates)
	if err != nil {
		wr.api.fail(w, "load rates", err)
		return
	}
	loaded, err := money.List(r.Context(), db)
	if err != nil {
		wr.api.fail(w, "rates", err)
		return
	}
	writeJSON(w, map[string]any{"loaded": n, "currencies": loaded})
}

// csvMoneyColumns names the currency in a CSV's money columns ("revenue
// EUR"), since a file leaves the answer's currency field behind, and says
// in the header X-Unconverted what the amounts leave out for want of a
// rate ("GBP 20 (1 order)").
func csvMoneyColumns(w http.ResponseWriter, t *Table) {
	if t.Currency == "" {
		return
	}
	cols := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		cols[i] = c
		if c == "revenue" || c == "commission" {
			cols[i] = c + " " + t.Currency
		}
	}
	t.Columns = cols
	var parts []string
	for _, u := range t.Unconverted {
		parts = append(parts, fmt.Sprintf("%s %v (%d orders)", u.Currency, u.Amount, u.Orders))
	}
	if len(parts) > 0 {
		w.Header().Set("X-Unconverted", strings.Join(parts, ", "))
	}
}
