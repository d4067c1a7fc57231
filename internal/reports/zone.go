package reports

import (
	"fmt"
	"regexp"
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

// localHour is the start of the hour of t as ClickHouse 18.16's
// toStartOfHour has it: whole hours counted from the start of t's day
// (LocalDay), so after a change of half an hour (Australia/Lord_Howe)
// hours begin at :30 on the clock until the next day.
func localHour(t time.Time, loc *time.Location) time.Time {
	day := LocalDay(t, loc)
	return day.Add(t.Sub(day).Truncate(time.Hour))
}
