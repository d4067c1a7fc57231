package api

import (
	"net/http"
	"reflect"
	"time"
	"unsafe"

	"footfall/internal/sites"
)

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

var timeType = reflect.TypeOf(time.Time{})

// localize shows every time in v (through structs, pointers, slices,
// arrays, maps and interfaces) on loc's clock, as inZone does: what the
// site's answers give is the site's local time with its offset, never a
// UTC time a reader takes for the site's.
func localize(v reflect.Value, loc *time.Location, depth int) {
	if depth > 32 || !v.IsValid() || !holdsTime(v.Type(), 0) {
		return
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return
		}
		e := v.Elem()
		if v.Kind() == reflect.Interface && !e.CanSet() {
			// a value in an interface cannot be changed in place: copy it
			c := reflect.New(e.Type()).Elem()
			c.Set(e)
			localize(c, loc, depth+1)
			if v.CanSet() {
				v.Set(c)
			}
			return
		}
		localize(e, loc, depth+1)
	case reflect.Struct:
		if v.Type() == timeType {
			if v.CanSet() {
				t := v.Interface().(time.Time)
				inZone(&t, loc)
				v.Set(reflect.ValueOf(t))
			}
			return
		}
		for i := 0; i < v.NumField(); i++ {
			f, fv := v.Type().Field(i), v.Field(i)
			if f.Anonymous && !f.IsExported() && fv.CanAddr() {
				// an embedded struct of an unexported type, whose fields
				// encoding/json answers: reached through its address
				fv = reflect.NewAt(fv.Type(), unsafe.Pointer(fv.UnsafeAddr())).Elem()
			} else if !f.IsExported() {
				continue
			}
			localize(fv, loc, depth+1)
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			localize(v.Index(i), loc, depth+1)
		}
	case reflect.Map:
		it := v.MapRange()
		for it.Next() {
			c := reflect.New(it.Value().Type()).Elem()
			c.Set(it.Value())
			localize(c, loc, depth+1)
			v.SetMapIndex(it.Key(), c)
		}
	}
}

// inSiteZone is v with every time in it on the site's clock.
func (a *API) inSiteZone(site string, v any) any {
	if v == nil {
		return v
	}
	c := reflect.New(reflect.TypeOf(v)).Elem()
	c.Set(reflect.ValueOf(v))
	localize(c, a.zone(site), 0)
	return c.Interface()
}

// writeLocal answers v as JSON with its times in the site's zone.
func (a *API) writeLocal(w http.ResponseWriter, site string, v any) {
	writeJSON(w, a.inSiteZone(site, v))
}

// holdsTime says whether a value of t can hold a time (an interface may).
func holdsTime(t reflect.Type, depth int) bool {
	if depth > 16 {
		return true
	}
	switch t.Kind() {
	case reflect.Interface:
		return true
	case reflect.Pointer, reflect.Slice, reflect.Array, reflect.Map:
		return holdsTime(t.Elem(), depth+1)
	case reflect.Struct:
		if t == timeType {
			return true
		}
		for i := 0; i < t.NumField(); i++ {
			if (t.Field(i).IsExported() || t.Field(i).Anonymous) && holdsTime(t.Field(i).Type, depth+1) {
				return true
			}
		}
	}
	return false
}

// inOwnZone is a site with its times (created, updated, its keys') on its
// own clock; the keys are copied, the registry's list is left as it is.
func inOwnZone(s sites.Site) sites.Site {
	loc, err := time.LoadLocation(s.TimeZone)
	if err != nil || s.TimeZone == "" {
		return s
	}
	inZone(&s.CreatedAt, loc)
	inZone(&s.UpdatedAt, loc)
	s.Keys = append([]sites.Key(nil), s.Keys...)
	for i := range s.Keys {
		inZone(&s.Keys[i].Created, loc)
	}
	return s
}
