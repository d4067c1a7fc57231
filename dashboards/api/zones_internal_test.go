package api

import (
	"encoding/json"
	"testing"
	"time"

	"footfall/internal/sites"
)

// TestLocalize: every time an answer holds, through pointers, slices,
// maps, interfaces and embedded structs, is shown on the site's clock; a
// zero time stays zero; the value answered is not the caller's map.
func TestLocalize(t *testing.T) {
	paris, _ := time.LoadLocation("Europe/Paris")
	at := time.Date(2026, 11, 30, 23, 30, 0, 0, time.UTC)
	type inner struct{ When time.Time }
	type answer struct {
		inner
		Plain  time.Time
		Ptr    *time.Time
		List   []inner
		ByName map[string]inner
		Any    any
		Zero   time.Time
		hidden time.Time
	}
	p := at
	v := answer{inner: inner{at}, Plain: at, Ptr: &p, List: []inner{{at}}, ByName: map[string]inner{"a": {at}}, Any: inner{at}, hidden: at}
	a := &API{cfg: Config{Zone: func(string) *time.Location { return paris }}}
	b, _ := json.Marshal(a.inSiteZone("shop", v))
	want := `{"When":"2026-12-01T00:30:00+01:00","Plain":"2026-12-01T00:30:00+01:00","Ptr":"2026-12-01T00:30:00+01:00","List":[{"When":"2026-12-01T00:30:00+01:00"}],"ByName":{"a":{"When":"2026-12-01T00:30:00+01:00"}},"Any":{"When":"2026-12-01T00:30:00+01:00"},"Zero":"0001-01-01T00:00:00Z"}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
	s := sites.Site{ID: "shop", TimeZone: "Asia/Kolkata", CreatedAt: at, Keys: []sites.Key{{ID: "k", Created: at}}}
	got := inOwnZone(s)
	if got.CreatedAt.Format(time.RFC3339) != "2026-12-01T05:00:00+05:30" || got.Keys[0].Created.Format(time.RFC3339) != "2026-12-01T05:00:00+05:30" {
		t.Errorf("site in its zone: %v %v", got.CreatedAt, got.Keys[0].Created)
	}
	if s.Keys[0].Created.Location() != time.UTC {
		t.Errorf("the registry's key was changed")
	}
}
