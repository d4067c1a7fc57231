package reports

import (
	"bufio"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The starts of Go's steps (stepsOf) against ClickHouse's rounding of
// every quarter hour of a year, in zones whose clocks jump at midnight
// (Santiago, Havana, Beirut, Cairo: their day begins at 01:00 on the day
// clocks go forward), by an hour (Paris), never (Kolkata, half an hour
// off UTC) and by half an hour (Lord_Howe). Each quarter hour must land
// in the step ClickHouse puts it in, for hours, days, weeks and months.
func TestStepsMatchClickHouse(t *testing.T) {
	zones := []string{"America/Santiago", "America/Havana", "Asia/Beirut", "Africa/Cairo", "Europe/Paris", "Asia/Kolkata", "Australia/Lord_Howe"}
	from := time.Date(2025, 12, 1, 0, 0, 0, 0, time.UTC)
	to := time.Date(2027, 1, 5, 0, 0, 0, 0, time.UTC)
	n := int(to.Sub(from) / (15 * time.Minute))
	ivs := []string{"hour", "day", "week", "month"}
	for _, z := range zones {
		loc, err := time.LoadLocation(z)
		if err != nil {
			t.Fatal(err)
		}
		// hours: hourStep, which ClickHouse runs as Go computes it
		q := fmt.Sprintf(`SELECT toUInt32(t), toUInt32(%[4]s), toUInt32(toStartOfDay(t, '%[1]s')), toUInt32(toDateTime(toMonday(t, '%[1]s'), '%[1]s')), toUInt32(toDateTime(toStartOfMonth(t, '%[1]s'), '%[1]s')) FROM (SELECT toDateTime(%[2]d + number*900) AS t FROM system.numbers LIMIT %[3]d) FORMAT TSV`,
			z, from.Unix(), n, hourStep("t", from, to, loc))
		resp, err := http.Get("http://127.0.0.1:8123/?query=" + url.QueryEscape(q))
		if err != nil {
			t.Fatal(err)
		}
		steps := map[string][]time.Time{}
		for _, iv := range ivs {
			steps[iv] = stepsOf(iv, from.Add(-40*24*time.Hour), to.Add(40*24*time.Hour), loc)
		}
		bad := map[string]int{}
		first := map[string]string{}
		rows := 0
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			f := strings.Split(sc.Text(), "\t")
			if len(f) != 5 {
				t.Fatalf("%s: %q", z, sc.Text())
			}
			rows++
			v := make([]int64, 5)
			for i := range f {
				v[i], _ = strconv.ParseInt(f[i], 10, 64)
			}
			at := time.Unix(v[0], 0)
			for i, iv := range ivs {
				s := steps[iv]
				k := sort.Search(len(s), func(k int) bool { return s[k].After(at) })
				g := s[k-1]
				if g.Unix() != v[i+1] {
					bad[iv]++
					if first[iv] == "" {
						first[iv] = fmt.Sprintf("%s: ClickHouse %s, Go %s", at.In(loc).Format(time.RFC3339), time.Unix(v[i+1], 0).In(loc).Format(time.RFC3339), g.In(loc).Format(time.RFC3339))
					}
				}
			}
			// localHour and LocalDay, used to split periods, agree too.
			if h := localHour(at, loc); h.Unix() != v[1] {
				bad["localHour"]++
			}
			if d := LocalDay(at, loc); d.Unix() != v[2] {
				bad["LocalDay"]++
			}
		}
		resp.Body.Close()
		if rows != n {
			t.Fatalf("%s: %d rows from ClickHouse, want %d", z, rows, n)
		}
		for iv, b := range bad {
			t.Errorf("%s %s: %d of %d quarter hours in another step; first %s", z, iv, b, n, first[iv])
		}
	}
}

func TestDayStart(t *testing.T) {
	for _, c := range []struct {
		zone string
		y    int
		m    time.Month
		d    int
		want string
	}{
		{"America/Santiago", 2026, 9, 6, "2026-09-06T01:00:00-03:00"},
		{"America/Santiago", 2026, 9, 7, "2026-09-07T00:00:00-03:00"},
		{"Africa/Cairo", 2026, 4, 24, "2026-04-24T01:00:00+03:00"},
		{"Asia/Beirut", 2026, 3, 29, "2026-03-29T01:00:00+03:00"},
		{"Europe/Paris", 2026, 3, 29, "2026-03-29T00:00:00+01:00"},
		{"Europe/Paris", 2026, 3, 32, "2026-04-01T00:00:00+02:00"},
		{"Pacific/Apia", 2011, 12, 30, "2011-12-31T00:00:00+14:00"},
	} {
		loc, _ := time.LoadLocation(c.zone)
		if got := DayStart(c.y, c.m, c.d, loc).Format(time.RFC3339); got != c.want {
			t.Errorf("%s %d-%d-%d: %s, want %s", c.zone, c.y, c.m, c.d, got, c.want)
		}
	}
}

// TestHourSteps: the hours of a series are the clock's, with values
// computed here from Go's time package alone: a minute's hour begins at
// the first minute before it, going back, with the same date, hour and
// offset on the clock. Every minute of the days whose clocks change in
// Lord_Howe (by half an hour), Paris, Santiago (at midnight), and of a
// day in Kolkata (+05:30), through localHour, stepsOf and hourStep run on
// ClickHouse. ClickHouse's toStartOfHour counted hours from the day's
// start: after Lord_Howe's change they began at 02:30, 03:30... on the
// clock until midnight.
func TestHourSteps(t *testing.T) {
	days := []struct {
		zone    string
		y       int
		m       time.Month
		d       int
		labels  string // the steps' clock times, when checked
		nLabels int
	}{
		{"Australia/Lord_Howe", 2026, 10, 4, "00:00 01:00 02:30 03:00 04:00 05:00", 24},
		{"Australia/Lord_Howe", 2026, 4, 5, "00:00 01:00 01:30 02:00 03:00 04:00", 25},
		{"Europe/Paris", 2026, 3, 29, "00:00 01:00 03:00 04:00 05:00 06:00", 23},
		{"Europe/Paris", 2026, 10, 25, "00:00 01:00 02:00 02:00 03:00 04:00", 25},
		{"America/Santiago", 2026, 9, 6, "01:00 02:00 03:00 04:00 05:00 06:00", 23},
		{"Asia/Kolkata", 2026, 11, 30, "00:00 01:00 02:00 03:00 04:00 05:00", 24},
	}
	for _, c := range days {
		loc, err := time.LoadLocation(c.zone)
		if err != nil {
			t.Fatal(err)
		}
		from, to := DayStart(c.y, c.m, c.d, loc), DayStart(c.y, c.m, c.d+1, loc)
		same := func(a, b time.Time) bool {
			la, lb := a.In(loc), b.In(loc)
			_, oa := la.Zone()
			_, ob := lb.Zone()
			return la.Format("2006-01-02 15") == lb.Format("2006-01-02 15") && oa == ob
		}
		want := map[int64]int64{} // minute: its hour's start
		for m := from; m.Before(to); m = m.Add(time.Minute) {
			s := m
			for same(s.Add(-time.Minute), m) {
				s = s.Add(-time.Minute)
			}
			want[m.Unix()] = s.Unix()
		}
		// localHour
		bad := 0
		for m, s := range want {
			if localHour(time.Unix(m, 0), loc).Unix() != s {
				bad++
			}
		}
		if bad > 0 {
			t.Errorf("%s %d-%02d-%02d: localHour wrong for %d minutes", c.zone, c.y, c.m, c.d, bad)
		}
		// stepsOf: the distinct starts, in order, and their labels
		var starts []int64
		seen := map[int64]bool{}
		for m := from; m.Before(to); m = m.Add(time.Minute) {
			if s := want[m.Unix()]; !seen[s] {
				seen[s] = true
				starts = append(starts, s)
			}
		}
		steps := stepsOf("hour", from, to, loc)
		var got []int64
		var labels []string
		for _, s := range steps {
			got = append(got, s.Unix())
			labels = append(labels, s.In(loc).Format("15:04"))
		}
		if fmt.Sprint(got) != fmt.Sprint(starts) {
			t.Errorf("%s %d-%02d-%02d: steps %v, want %v", c.zone, c.y, c.m, c.d, got, starts)
		}
		if len(steps) != c.nLabels || !strings.HasPrefix(strings.Join(labels, " "), c.labels) {
			t.Errorf("%s %d-%02d-%02d: %d steps %v, want %d beginning %s", c.zone, c.y, c.m, c.d, len(steps), labels, c.nLabels, c.labels)
		}
		// hourStep on ClickHouse
		q := fmt.Sprintf(`SELECT toUInt32(t), toUInt32(%s) FROM (SELECT toDateTime(%d + number*60) AS t FROM system.numbers LIMIT %d) FORMAT TSV`,
			hourStep("t", from, to, loc), from.Unix(), len(want))
		resp, err := http.Get("http://127.0.0.1:8123/?query=" + url.QueryEscape(q))
		if err != nil {
			t.Fatal(err)
		}
		bad, rows := 0, 0
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			f := strings.Split(sc.Text(), "\t")
			if len(f) != 2 {
				t.Fatalf("%q", sc.Text())
			}
			m, _ := strconv.ParseInt(f[0], 10, 64)
			s, _ := strconv.ParseInt(f[1], 10, 64)
			rows++
			if want[m] != s {
				bad++
			}
		}
		resp.Body.Close()
		if rows != len(want) || bad > 0 {
			t.Errorf("%s %d-%02d-%02d: hourStep on ClickHouse: %d of %d minutes wrong (%d rows)", c.zone, c.y, c.m, c.d, bad, len(want), rows)
		}
	}
}
