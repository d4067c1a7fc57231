package reports

import (
	"testing"
	"time"
)

// TestKeptWeeks: the UTC weeks from Monday whose page rows a breakdown of
// [dfrom, dto) counts, given the site's oldest day row as ClickHouse
// returns a Date (midnight of that day in some zone). 2026-11-02 is a
// Monday.
func TestKeptWeeks(t *testing.T) {
	day := func(s string) time.Time {
		d, err := time.Parse("2006-01-02", s)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	in := func(s, zone string) time.Time {
		loc, err := time.LoadLocation(zone)
		if err != nil {
			t.Fatal(err)
		}
		d := day(s)
		return time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, loc)
	}
	for _, c := range []struct {
		name             string
		dfrom, dto       string
		oldest           time.Time
		wantFrom, wantTo string // "" where no week counts
	}{
		{"a month, no rows deleted", "2026-11-02", "2026-12-02", day("1970-01-01"), "2026-11-02", "2026-11-30"},
		{"a month from a Wednesday", "2026-11-04", "2026-12-02", day("1970-01-01"), "2026-11-09", "2026-11-30"},
		{"rows kept from a Wednesday", "2026-11-02", "2026-12-02", day("2026-11-04"), "2026-11-09", "2026-11-30"},
		{"rows kept from a Monday", "2026-11-02", "2026-12-02", day("2026-11-16"), "2026-11-16", "2026-11-30"},
		// Tuesday in Tokyo is Monday 15:00 in UTC: the day is Tuesday,
		// and the week of that Monday lost its Monday.
		{"a Tuesday from Tokyo", "2026-11-02", "2026-12-02", in("2026-11-10", "Asia/Tokyo"), "2026-11-16", "2026-11-30"},
		{"a Sunday from New York", "2026-11-02", "2026-12-02", in("2026-11-15", "America/New_York"), "2026-11-16", "2026-11-30"},
		{"rows kept from after the period", "2026-11-02", "2026-12-02", day("2026-12-10"), "", ""},
		{"under a week", "2026-11-03", "2026-11-08", day("1970-01-01"), "", ""},
		{"one whole week", "2026-11-09", "2026-11-16", day("1970-01-01"), "2026-11-09", "2026-11-16"},
		{"no whole day", "2026-11-09", "2026-11-09", day("1970-01-01"), "", ""},
	} {
		from, to := keptWeeks(day(c.dfrom), day(c.dto), c.oldest)
		if c.wantFrom == "" {
			if !from.Equal(to) {
				t.Errorf("%s: weeks %s to %s, want none", c.name, from.Format(time.DateOnly), to.Format(time.DateOnly))
			}
			continue
		}
		if !from.Equal(day(c.wantFrom)) || !to.Equal(day(c.wantTo)) {
			t.Errorf("%s: weeks %s to %s, want %s to %s", c.name, from.Format(time.DateOnly), to.Format(time.DateOnly), c.wantFrom, c.wantTo)
		}
	}
}
