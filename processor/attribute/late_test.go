package attribute_test

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"footfall/processor/chstore"
	"footfall/tests/stacktest"
)

func lateLandings(t *testing.T) float64 {
	t.Helper()
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "processor_attribution_late_landings_total" {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatal("no processor_attribution_late_landings_total")
	return 0
}

// TestLateLandingCounted: a landing written after later events of its
// session leaves them to the previous touch (the credit is decided when
// an event is written), and is counted, from memory or from ClickHouse;
// the session's events after it are the landing's. A landing in the same
// batch as the session's events, in any order, credits them all and is
// no late landing.
func TestLateLandingCounted(t *testing.T) {
	for _, cold := range []bool{false, true} {
		_, store := stacktest.ClickHouse(t)
		next := func() *chstore.Store {
			if cold {
				return chstore.On(store.DB())
			}
			return store
		}
		t0 := time.Now().UTC().Truncate(time.Second).Add(-time.Hour)
		before := lateLandings(t)
		insert(t, store, ev{at: t0.Add(2 * time.Second), visitor: "v", session: "s", url: "/p"})
		insert(t, next(), ev{at: t0, visitor: "v", session: "s", url: "/?utm_source=news&utm_medium=email"},
			ev{at: t0, visitor: "v", session: "s", url: "/?utm_source=news&utm_medium=email"})
		insert(t, next(), ev{at: t0.Add(3 * time.Second), visitor: "v", session: "s", url: "/q"})
		// In one batch, the landing last: no late landing.
		insert(t, next(), ev{at: t0.Add(5 * time.Second), visitor: "w", session: "s2", url: "/p"},
			ev{at: t0.Add(4 * time.Second), visitor: "w", session: "s2", url: "/", ref: google})
		if got := lateLandings(t) - before; got != 1 {
			t.Errorf("cold %v: %v late landings counted, want 1", cold, got)
		}
		for _, c := range []struct {
			visitor, session string
			at               time.Time
			want             string
		}{
			{"v", "s", t0.Add(2 * time.Second), "(direct) / (none)"},
			{"v", "s", t0.Add(3 * time.Second), "news / email"},
			{"w", "s2", t0.Add(5 * time.Second), "google / organic"},
		} {
			if got := credited(t, store, c.visitor, c.session, c.at); got != c.want {
				t.Errorf("cold %v: %s %s at %s: %q, want %q", cold, c.visitor, c.session, c.at.Sub(t0), got, c.want)
			}
		}
	}
}
