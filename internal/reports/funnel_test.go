package reports_test

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/go-faster/city"

	"footfall/internal/event"
	"footfall/internal/reports"
	"footfall/tests/stacktest"
)

// TestFunnelSample: past twice its sample's size in events a funnel
// follows the visitors whose cityHash64(visitor_id) is at most 2^64/N, N
// the period's events over the size rounded up, and counts each of them N
// times; it counts again with a sparser-by-half-or-more N, or every
// visitor, where the sample shows its own events (its filters and steps,
// no bots) call for it; below the size, and with Off, it follows every
// visitor. The expected values are computed here from the visitors sent
// and Go's CityHash64 (ClickHouse's variant), not read back from
// ClickHouse.
func TestFunnelSample(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	db := stacktest.Reader(t, store)
	ctx := context.Background()
	day := time.Date(2026, 11, 12, 8, 0, 0, 0, time.UTC)
	fourSteps := []string{"type==pageview", "type==add_to_cart", "type==begin_checkout", "type==purchase"}
	steps := fourSteps
	types := []string{"pageview", "add_to_cart", "begin_checkout", "purchase"}
	const visitors = 1200
	var hits []stacktest.Hit
	truth := make([]uint64, len(steps)) // visitors who reached each step
	type visitor struct {
		level  int
		events uint64 // its events that are steps
	}
	people := map[string]visitor{}
	for v := 0; v < visitors; v++ {
		id := fmt.Sprintf("fv%04d", v)
		p := visitor{level: 1 + v%4}
		at := day.Add(time.Duration(v) * 17 * time.Second)
		for s := 0; s < p.level; s++ {
			truth[s]++
			h := stacktest.Hit{At: at.Add(time.Duration(s) * 10 * time.Second), Fields: map[event.Field]string{event.Site: "big",
				event.Type: types[s], event.VisitorID: id, event.SessionID: id + "s", event.URL: "https://big.example/p" + fmt.Sprint(s)}}
			if types[s] == "purchase" {
				h.Fields[event.OrderID], h.Revenue = "o"+id, 5_000_000
			}
			hits = append(hits, h)
			p.events++
		}
		// A purchase that comes before the cart is no later step.
		if v%7 == 0 {
			hits = append(hits, stacktest.Hit{At: at.Add(-time.Minute), Fields: map[event.Field]string{event.Site: "big",
				event.Type: "purchase", event.VisitorID: id, event.SessionID: id + "s", event.URL: "https://big.example/early"}})
			p.events++
		}
		people[id] = p
	}
	humans := uint64(len(hits))
	// A crawler's page views: events of the period, no funnel's.
	const bots = 4000
	for i := 0; i < bots; i++ {
		hits = append(hits, stacktest.Hit{At: day.Add(time.Duration(i) * 3 * time.Second), Fields: map[event.Field]string{event.Site: "big",
			event.Type: "pageview", event.VisitorID: fmt.Sprintf("bot%d", i%50), event.URL: "https://big.example/p0",
			event.UserAgent: "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"}})
	}
	stacktest.Insert(t, store, hits...)
	q := reports.Query{Site: "big", From: day.Add(-time.Hour), To: day.Add(48 * time.Hour)}
	events := uint64(len(hits))

	// sampleOf is the README's rule, written again here.
	sampleOf := func(events, size uint64) uint64 {
		if events <= 2*size {
			return 0
		}
		return (events + size - 1) / size
	}
	inSample := func(id string, n uint64) bool { return n == 0 || city.CH64([]byte(id)) <= math.MaxUint64/n }
	// expectOf is what a funnel answers with samples of size events where
	// people are its visitors' levels and events that are its steps: the
	// visitors per step, and N (0: every visitor).
	expectOf := func(people map[string]visitor, steps int, size uint64) ([]uint64, uint64) {
		n := sampleOf(events, size)
		if n > 0 {
			var rows uint64
			for id, p := range people {
				if inSample(id, n) {
					rows += p.events
				}
			}
			if own := sampleOf(rows*n, size); own <= n/2 {
				n = own
			}
		}
		want := make([]uint64, steps)
		for id, p := range people {
			if !inSample(id, n) {
				continue
			}
			for s := 0; s < p.level; s++ {
				want[s] += max(n, 1)
			}
		}
		return want, n
	}
	expect := func(size uint64) ([]uint64, uint64) { return expectOf(people, len(steps), size) }
	visitorsOf := func(tab reports.Table) []uint64 {
		var out []uint64
		for _, r := range tab.Rows {
			out = append(out, r[2].(uint64))
		}
		return out
	}
	check := func(name string, q reports.Query, s reports.Sampling, want []uint64, n uint64, steps ...string) reports.Table {
		t.Helper()
		if steps == nil {
			steps = fourSteps
		}
		tab, err := reports.Funnel(ctx, db, q, steps, 3600, s)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := visitorsOf(tab); fmt.Sprint(got) != fmt.Sprint(want) || tab.Sample != n {
			t.Errorf("%s: visitors %v, sample %d; want %v, sample %d", name, got, tab.Sample, want, n)
		}
		return tab
	}

	// Below the default size: every visitor.
	check("default size", q, reports.Sampling{}, truth, 0)

	// Samples of 1,500 events: the period's 7,172 events (bots included)
	// make it one in 5; the sample's own events, about 3,200, call for
	// one in 3, not half as sparse: it stays.
	want, n := expect(1500)
	if n != 5 {
		t.Fatalf("the test's data: one in %d with samples of 1,500 events, want 5", n)
	}
	tab := check("one in 5", q, reports.Sampling{Events: 1500}, want, n)
	for s := range steps {
		if s > 0 && tab.Rows[s][3].(float64) != float64(int(float64(want[s])/float64(want[0])*10000+0.5))/10000 {
			t.Errorf("one in 5: step %d conversion %v, not of the estimates %v", s+1, tab.Rows[s][3], want)
		}
	}

	// Samples of 1,000 events: one in 8 by the period's events, which
	// bots fill; the funnel's own events call for one in 4 or so: counted
	// again with that, a sample that holds the one in 8.
	want, n = expect(1000)
	if n < 3 || n > 4 {
		t.Fatalf("the test's data: one in %d with samples of 1,000 events, want 3 or 4 (%d events, %d of them people's)", n, events, humans)
	}
	check("bots call for one in 8", q, reports.Sampling{Events: 1000}, want, n)

	// A filter that leaves the funnel 1,200 events: every visitor.
	filtered := q
	filtered.Filters = []reports.Filter{{Dim: "page", Op: "==", Value: "/p0"}}
	check("filtered", filtered, reports.Sampling{Events: 1000}, []uint64{visitors, 0, 0, 0}, 0)

	// A rare first step (the early purchases of one visitor in seven),
	// then a page view, which every visitor has: the funnel's events are
	// the 1,372 of its steps, not only its first step's visitors' 344, so
	// with samples of 500 events it is counted again with one in 3, not
	// with every visitor.
	early := map[string]visitor{}
	for id := range people {
		var v int
		fmt.Sscanf(id, "fv%d", &v)
		if v%7 == 0 {
			early[id] = visitor{level: 2, events: 2}
		} else {
			early[id] = visitor{level: 0, events: 1}
		}
	}
	want, n = expectOf(early, 2, 500)
	if n != 3 {
		t.Fatalf("the test's data: one in %d for the rare first step, want 3", n)
	}
	check("rare first step", q, reports.Sampling{Events: 500}, want, n, "type==purchase;page==/early", "type==pageview")

	// At exactly twice the size: every visitor.
	if events%2 != 0 {
		t.Fatalf("the test's data: %d events, want an even number", events)
	}
	check("twice the size", q, reports.Sampling{Events: events / 2}, truth, 0)

	// Off follows every visitor whatever the size.
	check("off", q, reports.Sampling{Events: 1000, Off: true}, truth, 0)
}
