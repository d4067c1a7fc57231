package consume

import (
	"context"
	"strings"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"footfall/internal/erasure"
	"footfall/internal/event"
	"footfall/processor/chstore"
	"footfall/processor/enrich"
)

// tombstoneCount is what the consumer's filter last held, for the gauges.
var tombstoneCount struct{ held, ignored atomic.Int64 }

var (
	erasedDropped = promauto.NewCounter(prometheus.CounterOpts{
		Name: "processor_events_erased_dropped_total",
		Help: "Events of erased people dropped instead of inserted (a Kafka replay, a collector's spool, an old newsletter link).",
	})
	_ = promauto.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "processor_erasure_tombstones",
		Help: "Tombstones of erased people the processor checks events against.",
	}, func() float64 { return float64(tombstoneCount.held.Load()) })
	_ = promauto.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "processor_erasure_tombstones_other_key",
		Help: "Tombstones written with another -erasure-secret, which the processor cannot check: give every program the same secret.",
	}, func() float64 { return float64(tombstoneCount.ignored.Load()) })
)

// dropErased removes from the batch the events of erased people, from the
// tombstones the filter holds (reloaded when an erasure added some, asked
// at most every erasure.SyncEvery). It runs before the recipients are
// resolved, so that an old newsletter link's open or click, and a landing
// that carries its token, never reach the recipients table nor
// events_rejected.
func (c *Consumer) dropErased(ctx context.Context) error {
	if c.store == nil || len(c.rows) == 0 && len(c.rej) == 0 {
		return nil
	}
	if c.erased == nil {
		c.erased = erasure.NewFilter(c.store.DB(), c.cfg.ErasureSecret)
	}
	if err := c.erased.Sync(ctx, false); err != nil {
		return err
	}
	c.dropErasedMessages()
	held, ignored := c.erased.Tombstones()
	tombstoneCount.held.Store(int64(held))
	tombstoneCount.ignored.Store(int64(ignored))
	if c.erased.Empty() {
		return nil
	}
	keep, keepPart := c.rows[:0], c.rowMsg[:0]
	for i := range c.rows {
		if erasedRow(c.erased, &c.rows[i]) {
			erasedDropped.Inc()
			continue
		}
		keep, keepPart = append(keep, c.rows[i]), append(keepPart, c.rowMsg[i])
	}
	clear(c.rows[len(keep):]) // release the dropped rows' message buffers
	c.rows, c.rowMsg = keep, keepPart
	return nil
}

// erasedRow says whether row is an erased person's: its visitor id, its
// user id (in any spelling: event.FoldUser), its session id, its order id
// (a refund that names only the order), its newsletter token or the token of the newsletter link it
// landed from.
func erasedRow(f *erasure.Filter, row *chstore.Row) bool {
	e, r := &row.Event, &row.Enriched
	site := enrich.String(e.F[event.Site])
	if f.Erased(site, erasure.Visitor, r.VisitorID) || f.Erased(site, erasure.User, r.UserID) ||
		f.Erased(site, erasure.Session, enrich.String(e.F[event.SessionID])) ||
		f.Erased(site, erasure.Order, enrich.String(e.F[event.OrderID])) ||
		f.Erased("", erasure.Token, r.RecipientToken) {
		return true
	}
	// A visitor id that is an address (an integration that sends the
	// address as its visitor id) is checked as the user id it is, in any
	// spelling.
	if strings.IndexByte(r.VisitorID, '@') >= 0 && f.Erased(site, erasure.User, r.VisitorID) {
		return true
	}
	if e.Ingest != event.IngestEmail {
		return false
	}
	for _, p := range e.Props {
		if string(p.Key) == "token" && f.Erased("", erasure.Token, enrich.String(p.Value)) {
			return true
		}
	}
	return false
}

// dropErasedMessages removes from the messages to keep whole
// (events_rejected) those an erasure deleted, by the tombstones of their
// Kafka coordinates: a message that did not decode has no fields to check,
// and a replay of the topic (a new consumer group, a reset) would
// otherwise keep an erased person's messages again.
func (c *Consumer) dropErasedMessages() {
	if c.erased.Empty() || len(c.rej) == 0 {
		return
	}
	keep := c.rej[:0]
	for _, r := range c.rej {
		if c.erased.Erased("", erasure.Message, erasure.MessageKey(r.Topic, r.Partition, r.Offset, len(r.Payload))) {
			erasedDropped.Inc()
			continue
		}
		keep = append(keep, r)
	}
	clear(c.rej[len(keep):])
	c.rej = keep
}
