package weekly

import (
	"strings"
	"testing"
	"time"
)

// TestDue: the report of the week before is due from Monday 08:00 on the
// site's clock, in every zone (a Paris Monday starts on Sunday in UTC,
// an Auckland one on Sunday morning UTC), through the whole week.
func TestDue(t *testing.T) {
	for _, tc := range []struct {
		zone, now, week string
		due             bool
	}{
		{"Europe/Paris", "2026-11-23T07:59:59+01:00", "2026-11-16", false},
		{"Europe/Paris", "2026-11-23T08:00:00+01:00", "2026-11-16", true},
		{"Europe/Paris", "2026-11-29T23:59:00+01:00", "2026-11-16", true},
		{"Europe/Paris", "2026-11-30T00:00:00+01:00", "2026-11-23", false},
		{"Pacific/Auckland", "2026-11-22T19:30:00Z", "2026-11-16", true},     // Monday 08:30 in Auckland
		{"America/Los_Angeles", "2026-11-23T15:30:00Z", "2026-11-16", false}, // Monday 07:30 there
		// The week after clocks go back (Sunday 25 October in Paris): its
		// Monday is still at midnight.
		{"Europe/Paris", "2026-10-26T08:00:00+01:00", "2026-10-19", true},
	} {
		loc, _ := time.LoadLocation(tc.zone)
		now, _ := time.Parse(time.RFC3339, tc.now)
		week, due := Due(now, loc)
		if got := week.In(loc).Format("2006-01-02 15:04"); got != tc.week+" 00:00" || due != tc.due {
			t.Errorf("%s at %s: week %s due %v, want %s %v", tc.zone, tc.now, got, due, tc.week, tc.due)
		}
	}
}

// TestCompose: the body's numbers are written as the test of the
// dashboards reads them, the subject is encoded where it is not ASCII.
func TestCompose(t *testing.T) {
	paris, _ := time.LoadLocation("Europe/Paris")
	w := time.Date(2026, 11, 16, 0, 0, 0, 0, paris)
	f := Figures{Site: Site{ID: "b", Name: "Café"}, Currency: "EUR", Week: w, End: w.AddDate(0, 0, 7),
		This: Totals{Visitors: 1234567, Revenue: 1234567.5}, Last: Totals{Visitors: 0, Revenue: -3}}
	m := Compose(f, "a@b.example", []string{"c@d.example"})
	for _, want := range []string{"1,234,567", "1,234,567.50", "-3.00", "new", "Sunday 22 November 2026"} {
		if !strings.Contains(m.Body, want) {
			t.Errorf("body lacks %q:\n%s", want, m.Body)
		}
	}
	if b := string(m.Bytes(w)); !strings.Contains(b, "Subject: =?utf-8?q?Footfall_weekly_report:_Caf=C3=A9,_week_of_16_November_2026?=") {
		t.Errorf("message:\n%s", b)
	}
}
