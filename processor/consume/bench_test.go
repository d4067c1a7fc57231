package consume

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"footfall/internal/event"
	"footfall/processor/attribute"
	"footfall/processor/chstore"
	"footfall/processor/enrich"
)

var benchAgents = []string{
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
}

// BenchmarkProcessBatch measures what the processor does per event on one
// core, ClickHouse's own time excluded: decode, enrich, credit each event
// to what brought its visit (from memory: the visitors are known after the
// first batch), and build the insert columns, for batches of 10,000
// realistic events.
func BenchmarkProcessBatch(b *testing.B) {
	const batch = 10000
	msgs := make([]kafka.Message, batch)
	now := time.Now().UnixMilli()
	for i := range msgs {
		e := event.Event{ID: event.NewID(now), TimeMs: now, Ingest: event.IngestPixel}
		e.F[event.Site] = []byte("demo")
		e.F[event.Type] = []byte("pageview")
		e.F[event.VisitorID] = []byte(fmt.Sprintf("v-%d", i%3000))
		e.F[event.URL] = []byte(fmt.Sprintf("https://shop.example/p/%d?utm_source=news&utm_campaign=nov", i%200))
		e.F[event.Referrer] = []byte("https://www.google.com/")
		e.F[event.Title] = []byte("Trail Runner")
		e.F[event.UserAgent] = []byte(benchAgents[i%len(benchAgents)])
		e.F[event.IP] = []byte("203.0.113.0")
		e.Props = []event.Prop{{Key: []byte("sku"), Value: []byte("TR-42")}}
		msgs[i] = kafka.Message{Partition: i % 6, Offset: int64(i / 6), Value: event.Append(nil, &e)}
	}
	c := &Consumer{cfg: Config{DedupIDs: batch}, en: enrich.New(0), last: map[int]kafka.Message{}, next: map[int]int64{}, seen: map[int]*seenIDs{}}
	var cols chstore.ColumnSet // reused across batches, as Insert does
	attr := attribute.New(nil)
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	b.ResetTimer()
	for b.Loop() {
		for _, m := range msgs {
			c.add(m)
		}
		if err := cols.Credit(context.Background(), attr, c.rows); err != nil {
			b.Fatal(err)
		}
		_ = cols.Fill(c.rows)
		c.reset()
		clear(c.next) // every loop replays the same offsets and ids
		clear(c.seen)
	}
	b.StopTimer()
	runtime.ReadMemStats(&ms1)
	events := float64(b.N) * batch
	b.ReportMetric(events/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/events, "ns/event")
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/events, "allocs/event")
}
