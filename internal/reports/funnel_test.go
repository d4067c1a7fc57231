package reports_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/go-faster/city"

	"footfall/internal/event"
	"footfall/internal/reports"
	"footfall/tests/stacktest"
)

// TestFunnelSample: past its size a funnel follows the visitors whose
// cityHash64(visitor_id) is a multiple of N, N the period's events over
// the sample's size rounded up, and counts each of them N times; below it,
// and with EveryVisitor, it follows every visitor. The expected values are
// computed here from the visitors sent and Go's CityHash64 (ClickHouse's
// variant), not read back from ClickHouse.
func TestFunnelSample(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	db := stacktest.Reader(t, store)
	ctx := context.Background()
	day := time.Date(2026, 11, 12, 8, 0, 0, 0, time.UTC)
	steps := []string{"type==pageview", "type==add_to_cart", "type==begin_checkout", "type==purchase"}
	types := []string{"pageview", "add_to_cart", "begin_checkout", "purchase"}
	const visitors = 1200
	var hits []stacktest.Hit
	truth := make([]uint64, len(steps)) // visitors who reached each step
	levels := map[string]int{}
	for v := 0; v < visitors; v++ {
		id := fmt.Sprintf("fv%04d", v)
		level := 1 + v%4
		levels[id] = level
		at := day.Add(time.Duration(v) * 17 * time.Second)
		for s := 0; s < level; s++ {
			truth[s]++
			f := map[event.Field]string{event.Site: "big", event.Type: types[s], event.VisitorID: id,
				event.SessionID: id + "s", event.URL: "https://big.example/p" + fmt.Sprint(s)}
			h := stacktest.Hit{At: at.Add(time.Duration(s) * 10 * time.Second), Fields: f}
			if types[s] == "purchase" {
				h.Fields[event.OrderID], h.Revenue = "o"+id, 5_000_000
			}
			hits = append(hits, h)
		}
		// A purchase that comes before the cart is no later step.
		if v%7 == 0 {
			hits = append(hits, stacktest.Hit{At: at.Add(-time.Minute), Fields: map[event.Field]string{event.Site: "big",
				event.Type: "purchase", event.VisitorID: id, event.SessionID: id + "s", event.URL: "https://big.example/early"}})
		}
	}
	stacktest.Insert(t, store, hits...)
	q := reports.Query{Site: "big", From: day.Add(-time.Hour), To: day.Add(48 * time.Hour)}

	visitorsOf := func(tab reports.Table) []uint64 {
		var out []uint64
		for _, r := range tab.Rows {
			out = append(out, r[2].(uint64))
		}
		return out
	}
	// Below the size: every visitor, no sample.
	tab, err := reports.Funnel(ctx, db, q, steps, 3600, reports.Sampling{})
	if err != nil {
		t.Fatal(err)
	}
	if got := visitorsOf(tab); fmt.Sprint(got) != fmt.Sprint(truth) || tab.Sample != 0 {
		t.Errorf("below the size: visitors %v sample %d, want %v and no sample", got, tab.Sample, truth)
	}

	events := uint64(len(hits))
	n := (events + 999) / 1000
	want := make([]uint64, len(steps))
	sampled := 0
	for id, level := range levels {
		if city.CH64([]byte(id))%n != 0 {
			continue
		}
		sampled++
		for s := 0; s < level; s++ {
			want[s] += n
		}
	}
	if n < 2 || sampled == 0 || sampled == visitors {
		t.Fatalf("the test's data gives no sample: %d events, 1 in %d, %d of %d visitors", events, n, sampled, visitors)
	}
	tab, err = reports.Funnel(ctx, db, q, steps, 3600, reports.Sampling{Events: 1000})
	if err != nil {
		t.Fatal(err)
	}
	got := visitorsOf(tab)
	if fmt.Sprint(got) != fmt.Sprint(want) || tab.Sample != n {
		t.Errorf("sampled: visitors %v sample %d, want %v (1 in %d: %d of %d visitors)", got, tab.Sample, want, n, sampled, visitors)
	}
	// The estimate is near the truth (within four standard errors of
	// each step's count, N*sqrt(k)); conversion and drop-off are of the
	// estimates.
	for s := range steps {
		k := float64(truth[s]) / float64(n)
		if d := float64(got[s]) - float64(truth[s]); d*d > 16*float64(n*n)*k {
			t.Errorf("step %d: estimated %d visitors, %d in fact (1 in %d)", s+1, got[s], truth[s], n)
		}
		if s > 0 && got[0] > 0 {
			if conv, want := tab.Rows[s][3].(float64), float64(int(float64(got[s])/float64(got[0])*10000+0.5))/10000; conv != want {
				t.Errorf("step %d: conversion %v, want %v", s+1, conv, want)
			}
		}
	}
	// EveryVisitor follows every visitor whatever the size.
	tab, err = reports.Funnel(ctx, db, q, steps, 3600, reports.EveryVisitor)
	if err != nil {
		t.Fatal(err)
	}
	if got := visitorsOf(tab); fmt.Sprint(got) != fmt.Sprint(truth) || tab.Sample != 0 {
		t.Errorf("sample off: visitors %v sample %d, want %v and no sample", got, tab.Sample, truth)
	}
}
