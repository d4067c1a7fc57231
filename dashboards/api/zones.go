package api

import "time"

// inZone shows t in loc, the site's zone (with its offset), leaving a
// zero time zero: a person without orders has no first order, not one in
// year 1 at Paris's mean solar time.
func inZone(t *time.Time, loc *time.Location) {
	if !t.IsZero() {
		*t = t.In(loc)
	}
}

// localTimes shows a profile's times on the site's clock: the timeline's
// and the person's first and last sightings and orders, consents,
// interests and claims.
func (p *Profile) localTimes(loc *time.Location) {
	for _, t := range []*time.Time{&p.FirstSeen, &p.LastSeen, &p.FirstOrder, &p.LastOrder} {
		inZone(t, loc)
	}
	for i := range p.Timeline {
		inZone(&p.Timeline[i].Time, loc)
	}
	for i := range p.Consents {
		inZone(&p.Consents[i].Time, loc)
	}
	for i := range p.Interests {
		inZone(&p.Interests[i].LastSeen, loc)
	}
	for i := range p.Claims {
		inZone(&p.Claims[i].First, loc)
		inZone(&p.Claims[i].Last, loc)
	}
	for i := range p.Products {
		inZone(&p.Products[i].LastViewed, loc)
	}
}
