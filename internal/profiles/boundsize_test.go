package profiles

import (
	"testing"
	"time"

	"footfall/internal/chsql"
	"footfall/internal/money"
)

// TestBoundRatesFitAStatement: a refresh's INSERT with the rates of
// money.MaxOrderDays currency days bound, each key and rate at its longest
// (a rate such as 0.000012345678901234567), stays within ClickHouse's
// default max_query_size (256 KiB), which both engines refuse past
// (money's TestRatesOfFitsAStatement checks RatesOf's own statement).
func TestBoundRatesFitAStatement(t *testing.T) {
	const maxQuerySize = 256 << 10
	rates := money.Table{Keys: make([]string, money.MaxOrderDays+1), Values: make([]float64, money.MaxOrderDays+1)}
	for i := range money.MaxOrderDays {
		rates.Keys[i] = "XAU" + time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, i).Format(time.DateOnly)
		rates.Values[i] = 1.2345678901234567e-05
	}
	args := chsql.Args{"site": "a-site-name-of-sixty-four-characters-a-site-name-of-sixty-four-c",
		"version": uint64(time.Now().UnixNano()), "currency": "EUR", "since": time.Now()}
	rates.Bind(args)
	sql, err := chsql.Bind(insertPeople.With(map[string]string{"filter": affected}).SQL(), args)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the INSERT with %d currency days bound: %d bytes", money.MaxOrderDays, len(sql))
	if len(sql) > maxQuerySize*9/10 {
		t.Errorf("the refresh's INSERT with %d currency days bound is %d bytes: ClickHouse refuses more than %d", money.MaxOrderDays, len(sql), maxQuerySize)
	}
}
