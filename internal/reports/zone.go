package reports

import (
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"
)

// A site's figures are in the site's time zone: its days, weeks and
// months begin at its midnight, its hours are its clock's (an hourly
// series of Paris has 23 steps on the last Sunday of March and 25 on the
// last Sunday of October; one of Kolkata begins them at :30 UTC).
//
// ClickHouse rounds a time in a zone given as the last argument of
// toStartOfHour, toStartOfDay, toDate, toMonday and toStartOfMonth.
// 18.16 takes that argument only as a constant string, so the zone goes
// into a statement as a literal: @tz, which chsql binds as a quoted
// string in the statement's text (never a server-side parameter), and
// only from a name ZoneName accepted.

// zoneName matches the IANA names Go loads: Europe/Paris, Asia/Kolkata,
// America/Argentina/Buenos_Aires, Etc/GMT+5, UTC.
var zoneNameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+)*$`)

// ZoneName is the IANA name of loc, as ClickHouse reads it: "UTC" for nil.
// A location without an IANA name (time.Local, a FixedZone) is an error:
// ClickHouse could not read it the same.
func ZoneName(loc *time.Location) (string, error) {
	if loc == nil {
		return "UTC", nil
	}
	name := loc.String()
	if name == "Local" || !zoneNameRE.MatchString(name) {
		return "", fmt.Errorf("time zone %q: want an IANA name such as Europe/Paris", name)
	}
	return name, nil
}

// zoneOf is q's zone, UTC when it has none.
func (q Query) zone() *time.Location {
	if q.Zone == nil {
		return time.UTC
	}
	return q.Zone
}

// LocalDay is the start of the day of t in loc: the first instant of
// t's date there (DayStart).
func LocalDay(t time.Time, loc *time.Location) time.Time {
	t = t.In(loc)
	return DayStart(t.Year(), t.Month(), t.Day(), loc)
}

// DayStart is the first instant of the local date y-m-d in loc, as
// ClickHouse's toStartOfDay has it: usually its midnight, but in zones
// whose clocks jump at midnight (America/Santiago, America/Havana,
// Asia/Beirut, Africa/Cairo) 00:00 does not exist on the day clocks go
// forward and the day begins at 01:00; time.Date would answer 23:00 of
// the day before or 01:00 of another day's offset, never the same. The
// date is normalised like time.Date's (month 13, day 0). A date a zone
// skipped whole (Pacific/Apia, 30 December 2011) begins where the next
// one does.
func DayStart(y int, m time.Month, d int, loc *time.Location) time.Time {
	day := time.Date(y, m, d, 12, 0, 0, 0, time.UTC) // the date, normalised
	want := dateKey(day)
	t := time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, loc)
	if dateKey(t.In(loc)) == want && dateKey(t.Add(-time.Second).In(loc)) < want {
		return t
	}
	// The first second whose local date is want or later, between 36 h
	// before that date's UTC noon (a date before it in every zone) and
	// 36 h after (one after its start in every zone).
	lo := day.Add(-36 * time.Hour).Unix()
	hi := day.Add(36 * time.Hour).Unix()
	for lo+1 < hi {
		mid := lo + (hi-lo)/2
		if dateKey(time.Unix(mid, 0).In(loc)) >= want {
			hi = mid
		} else {
			lo = mid
		}
	}
	return time.Unix(hi, 0).In(loc)
}

// dateKey orders the wall-clock dates of times.
func dateKey(t time.Time) int {
	y, m, d := t.Date()
	return y*10000 + int(m)*100 + d
}

// Hours are the hours of the site's clock: an hour step begins when the
// clock shows HH:00, or when the clock is changed (the change's instant
// begins a step, so no step spans two offsets). In a zone whose clock
// moves by half an hour (Australia/Lord_Howe: 02:00 becomes 02:30 in
// October, 02:00 becomes 01:30 in April) that day has a half-hour step
// (02:30 to 03:00, 01:30 to 02:00) and every other step starts at HH:00.
// ClickHouse's toStartOfHour(t, zone) counts hours from the start of the
// day instead, so after such a change its hours began at :30 on the
// clock until midnight (02:30, 03:30...: the labels were wrong), and
// 18.16 and current ClickHouse round those times differently. The step
// is therefore computed from the zone's offsets, which Go's time package
// knows (hourStep), with integer arithmetic only: the same on every
// ClickHouse.

// zonePeriod is a span of loc's time with one offset: from start (Unix
// seconds; math.MinInt64 for the first) on, offset seconds east of UTC.
type zonePeriod struct{ start, offset int64 }

// zonePeriods lists loc's offsets over [from, to), in order.
func zonePeriods(from, to time.Time, loc *time.Location) []zonePeriod {
	var out []zonePeriod
	t := from
	for i := 0; i < 10_000; i++ {
		l := t.In(loc)
		_, off := l.Zone()
		start, end := l.ZoneBounds()
		p := zonePeriod{start: math.MinInt64, offset: int64(off)}
		if !start.IsZero() {
			p.start = start.Unix()
		}
		out = append(out, p)
		if end.IsZero() || !end.Before(to) {
			break
		}
		t = end
	}
	return out
}

// hourIn is the start (Unix seconds) of the hour of u in period p: the
// last HH:00 of its clock, or the change that began p if later.
func hourIn(u int64, p zonePeriod) int64 {
	return max(floorDiv(u+p.offset, 3600)*3600-p.offset, p.start)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// localHour is the start of the hour of t on loc's clock (see Hours).
func localHour(t time.Time, loc *time.Location) time.Time {
	ps := zonePeriods(t, t.Add(time.Second), loc)
	return time.Unix(hourIn(t.Unix(), ps[0]), 0).In(loc)
}

// nextHour is the start of the hour after the one that begins at h.
func nextHour(h time.Time, loc *time.Location) time.Time {
	l := h.In(loc)
	_, off := l.Zone()
	_, end := l.ZoneBounds()
	n := floorDiv(h.Unix()+int64(off), 3600)*3600 - int64(off) + 3600
	if !end.IsZero() && end.Unix() < n {
		n = end.Unix()
	}
	return time.Unix(n, 0).In(loc)
}

// hourStep is the SQL of the start of the hour of col (a DateTime) on
// loc's clock for times in [from, to) (a day either side is covered), as
// a DateTime in UTC: for each period of one offset, the last HH:00 of
// the clock or the period's start. The numbers are Go's, never input.
func hourStep(col string, from, to time.Time, loc *time.Location) string {
	ps := zonePeriods(from.Add(-24*time.Hour), to.Add(24*time.Hour), loc)
	u := "toInt64(toUInt32(" + col + "))"
	in := func(p zonePeriod) string {
		// + k, a multiple of 3600, keeps intDiv's dividend positive, where
		// it rounds down as floorDiv does
		const k = 3600 * 1_000_000
		e := fmt.Sprintf("intDiv(%s + %d, 3600) * 3600 - %d", u, p.offset+k, p.offset+k)
		if p.start != math.MinInt64 {
			e = fmt.Sprintf("greatest(%s, %d)", e, p.start)
		}
		return e
	}
	expr := in(ps[len(ps)-1])
	if len(ps) > 1 {
		var b strings.Builder
		b.WriteString("multiIf(")
		for i := 0; i < len(ps)-1; i++ {
			fmt.Fprintf(&b, "%s < %d, %s, ", u, ps[i+1].start, in(ps[i]))
		}
		b.WriteString(expr + ")")
		expr = b.String()
	}
	return "toDateTime(toUInt32(" + expr + "), 'UTC')"
}
