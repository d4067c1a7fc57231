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
		q := fmt.Sprintf(`SELECT toUInt32(t), toUInt32(toStartOfHour(t, '%[1]s')), toUInt32(toStartOfDay(t, '%[1]s')), toUInt32(toDateTime(toMonday(t, '%[1]s'), '%[1]s')), toUInt32(toDateTime(toStartOfMonth(t, '%[1]s'), '%[1]s')) FROM (SELECT toDateTime(%d + number*900) AS t FROM system.numbers LIMIT %d) FORMAT TSV`, z, from.Unix(), n)
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
