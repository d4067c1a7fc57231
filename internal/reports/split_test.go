package reports

import (
	"fmt"
	"testing"
	"time"

	"footfall/internal/chsql"
)

// rawHours is how much of a split the events answer, in hours.
func rawHours(s split) float64 {
	var d time.Duration
	for i := 0; ; i += 2 {
		a, ok := s.args[fmtR(i)]
		if !ok {
			break
		}
		d += s.args[fmtR(i+1)].(time.Time).Sub(a.(time.Time))
	}
	return d.Hours()
}

func fmtR(i int) string { return fmt.Sprintf("r%d", i) }

// TestSplits: how much of a period the events answer, the rest being the
// rollups': nothing of a whole-hour zone's hourly or daily series, the
// half hours Asia/Kolkata's steps cut, and for the daily top lists the
// parts of UTC days at the period's ends.
func TestSplits(t *testing.T) {
	paris, _ := time.LoadLocation("Europe/Paris")
	kolkata, _ := time.LoadLocation("Asia/Kolkata")
	day := func(loc *time.Location, m time.Month, d int) time.Time { return time.Date(2026, m, d, 0, 0, 0, 0, loc) }
	hourOf := func(loc *time.Location) func(time.Time) time.Time {
		return func(t time.Time) time.Time { return localHour(t, loc) }
	}
	dayOf := func(loc *time.Location) func(time.Time) time.Time {
		return func(t time.Time) time.Time { return LocalDay(t, loc) }
	}
	cases := []struct {
		name string
		s    split
		raw  float64
		cuts int
	}{
		{"UTC, 30 days by day", hourSplit("s", day(time.UTC, 10, 2), day(time.UTC, 11, 1), dayOf(time.UTC)), 0, 0},
		{"Paris, 30 days by day", hourSplit("s", day(paris, 10, 2), day(paris, 11, 1), dayOf(paris)), 0, 0},
		{"Paris, its 25-hour day by hour", hourSplit("s", day(paris, 10, 25), day(paris, 10, 26), hourOf(paris)), 0, 0},
		{"Paris, totals of Mar 29", hourSplit("s", day(paris, 3, 29), day(paris, 3, 30), nil), 0, 0},
		{"Kolkata, totals of a day", hourSplit("s", day(kolkata, 12, 1), day(kolkata, 12, 2), nil), 1, 0},
		{"Kolkata, a day by hour", hourSplit("s", day(kolkata, 12, 1), day(kolkata, 12, 2), hourOf(kolkata)), 24, 23},
		{"Kolkata, 30 days by day", hourSplit("s", day(kolkata, 10, 2), day(kolkata, 11, 1), dayOf(kolkata)), 30, 29},
		{"UTC, top lists of 30 days", daySplit("s", day(time.UTC, 10, 2), day(time.UTC, 11, 1)), 0, 0},
		{"Paris, top lists of Oct 2 to Nov 1 (+02:00 then +01:00: 2 + 23 hours)", daySplit("s", day(paris, 10, 2), day(paris, 11, 1)), 25, 0},
		{"Paris, top lists of a day", daySplit("s", day(paris, 12, 1), day(paris, 12, 2)), 24, 0},
		{"Kolkata, top lists of 7 days", daySplit("s", day(kolkata, 12, 1), day(kolkata, 12, 8)), 24, 0},
	}
	for _, c := range cases {
		if set, ok := c.s.args["cut"].(chsql.Set[time.Time]); ok && len(set)-1 != c.cuts {
			t.Errorf("%s: the rollup leaves out %d hours, want %d", c.name, len(set)-1, c.cuts)
		}
		if got := rawHours(c.s); got != c.raw {
			t.Errorf("%s: the events answer %v hours, want %v (%s)", c.name, got, c.raw, c.s.raw)
		}
	}
}
