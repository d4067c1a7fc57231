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

// LocalDay is the start of the day of t in loc: its midnight there.
func LocalDay(t time.Time, loc *time.Location) time.Time {
	t = t.In(loc)
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, loc)
}

// localHour is the start of the hour of t on loc's clock. The minutes
// are taken off rather than time.Date asked for the hour, which on the
// day clocks go back is ambiguous (Paris reads 02:00 twice).
func localHour(t time.Time, loc *time.Location) time.Time {
	l := t.In(loc)
	return l.Add(-time.Duration(l.Minute())*time.Minute - time.Duration(l.Second())*time.Second - time.Duration(l.Nanosecond()))
}
