package money

import (
	"fmt"
	"testing"
	"time"

	"footfall/internal/chsql"
)

// TestRatesOfFitsAStatement: RatesOf's statement for MaxOrderDays
// currency days stays within ClickHouse's default max_query_size (256
// KiB), which both engines refuse past.
func TestRatesOfFitsAStatement(t *testing.T) {
	var currencies, keys chsql.Set[string]
	for i := range MaxOrderDays {
		currencies = append(currencies, fmt.Sprintf("X%02d", i%100))
		keys = append(keys, fmt.Sprintf("X%02d2026-01-10", i%100))
	}
	sql, err := chsql.Bind(ratesOf.SQL(), chsql.Args{"currency": "EUR", "fx_currencies": currencies, "fx_orders": keys,
		"fx_from": chsql.Date(time.Now()), "fx_to": chsql.Date(time.Now())})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("RatesOf's statement for %d currency days: %d bytes", MaxOrderDays, len(sql))
	if len(sql) > (256<<10)*9/10 {
		t.Errorf("RatesOf's statement for %d currency days is %d bytes: ClickHouse refuses more than %d", MaxOrderDays, len(sql), 256<<10)
	}
}
