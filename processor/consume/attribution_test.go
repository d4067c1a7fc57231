package consume

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"footfall/internal/event"
	"footfall/processor/chstore"
	"footfall/processor/enrich"
	"footfall/tests/stacktest"
)

// TestPartitionMoveForgetsVisitors: the store credits a visitor's events
// from what it remembers of them, which is stale once another consumer
// has written to their partition. A message that does not follow the
// last one read from its partition (the partition was away) makes the
// consumer's store forget, so the visitor's next event is credited to the
// newsletter visit the other consumer wrote, not to the Google landing
// remembered.
func TestPartitionMoveForgetsVisitors(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	ctx := context.Background()
	t0 := time.Now().UTC().Truncate(time.Second).Add(-72 * time.Hour)
	msg := func(offset int64, at time.Time, session, url, ref string) kafka.Message {
		e := event.Event{ID: event.NewID(at.UnixMilli()), TimeMs: at.UnixMilli(), Ingest: event.IngestBeacon}
		e.F[event.Site], e.F[event.Type], e.F[event.VisitorID] = []byte("shop"), []byte("pageview"), []byte("v")
		e.F[event.SessionID], e.F[event.URL], e.F[event.Referrer] = []byte(session), []byte("https://shop.example"+url), []byte(ref)
		e.F[event.UserAgent] = []byte(ua)
		return kafka.Message{Partition: 2, Offset: offset, Value: event.Append(nil, &e)}
	}
	c := &Consumer{store: store, en: enrich.New(0), last: map[int]kafka.Message{}, next: map[int]int64{}, seen: map[int]*seenIDs{}}
	flush := func() {
		t.Helper()
		if err := store.Insert(ctx, c.rows); err != nil {
			t.Fatal(err)
		}
		c.reset()
	}
	c.add(msg(10, t0, "s1", "/", "https://www.google.com/"))
	flush()
	// Offsets 11 to 19 went to another consumer, which wrote a newsletter visit.
	other := chstore.On(store.DB())
	var r chstore.Row
	r.Event = event.Event{}
	if err := event.Decode(msg(11, t0.Add(24*time.Hour), "s2", "/?utm_source=newsletter&utm_medium=email", "").Value, &r.Event); err != nil {
		t.Fatal(err)
	}
	enrich.New(0).Enrich(&r.Event, &r.Enriched)
	if err := other.Insert(ctx, []chstore.Row{r}); err != nil {
		t.Fatal(err)
	}
	c.add(msg(20, t0.Add(48*time.Hour), "s3", "/", ""))
	flush()
	if n := stacktest.Count(t, store, "SELECT count() FROM events WHERE session_id = 's3' AND visit_source = 'newsletter'"); n != 1 {
		t.Errorf("the direct visit after the partition came back is not the newsletter's")
	}
}
