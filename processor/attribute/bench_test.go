package attribute

import (
	"context"
	"strconv"
	"testing"
)

// BenchmarkCreditReferrals credits what the bench's end-to-end step sends:
// page views of 5,000 visitors without a session, each referred by
// Google, four a second per visitor, in batches of 10,000 (half a
// second at 20,000 events/s). Each visitor's touches without a session
// are a run each (a run per second here), up to keepRuns: the rule's
// work per event grows with them.
func BenchmarkCreditReferrals(b *testing.B) {
	const batch, visitors = 10000, 5000
	a := New(nil)
	hits := make([]Hit, batch)
	out := make([]Touch, batch)
	names := make([]string, visitors)
	for i := range names {
		names[i] = "v" + strconv.Itoa(i)
	}
	at := int64(1_800_000_000)
	b.ReportAllocs()
	for b.Loop() {
		for i := range hits {
			hits[i] = Hit{Site: "bench", Visitor: names[i%visitors], At: at + int64(i/(2*visitors)), Own: google, Counted: true}
		}
		if err := a.Credit(context.Background(), hits, out); err != nil {
			b.Fatal(err)
		}
		at++ // the next batch half a second later, rounded up
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/event")
}
