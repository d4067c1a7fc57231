package consume

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"footfall/internal/event"
)

// History is idempotent by order id. A purchase the server API sent with
// its own time (history, collector/beacon backfill.go) more than
// historyAge before it is read, whose order id its site has a purchase
// of already, is dropped before the insert, whatever its event id: a
// shop that imports its past orders again, or imports an order its
// backend had sent live, stores it once. So does a batch that holds the
// same past order twice. Live purchases are not looked up: a repeated one
// is stored, and every figure counts an order once (internal/orders).
const historyAge = time.Hour

var duplicateOrders = promauto.NewCounter(prometheus.CounterOpts{
	Name: "processor_history_orders_duplicate_dropped_total",
	Help: "Purchases of the past (history sent with its time) dropped before the insert because their site has a purchase of that order id already.",
})

// dropKnownOrders removes from the batch the past purchases whose order
// ids are stored already or come earlier in the batch.
func (c *Consumer) dropKnownOrders(ctx context.Context) error {
	before := time.Now().Add(-historyAge).UnixMilli()
	bySite := map[string][]string{}
	for i := range c.rows {
		if e := &c.rows[i].Event; pastOrder(e, before) {
			site := string(e.F[event.Site])
			bySite[site] = append(bySite[site], string(e.F[event.OrderID]))
		}
	}
	if len(bySite) == 0 {
		return nil
	}
	stored := map[string]map[string]bool{}
	for site, ids := range bySite {
		found, err := c.store.ExistingOrders(ctx, site, ids)
		if err != nil {
			return err
		}
		stored[site] = found
	}
	keep, keepPart := c.rows[:0], c.rowMsg[:0]
	for i := range c.rows {
		if e := &c.rows[i].Event; pastOrder(e, before) {
			site, id := string(e.F[event.Site]), string(e.F[event.OrderID])
			if stored[site][id] {
				duplicateOrders.Inc()
				continue
			}
			stored[site][id] = true // the batch's first of the order goes in
		}
		keep, keepPart = append(keep, c.rows[i]), append(keepPart, c.rowMsg[i])
	}
	if n := len(c.rows) - len(keep); n > 0 {
		clear(c.rows[len(keep):])
		slog.Info("dropped past orders already stored", "events", n)
	}
	c.rows, c.rowMsg = keep, keepPart
	return nil
}

// pastOrder says whether e is a purchase with an order id that happened
// before (Unix ms): history.
func pastOrder(e *event.Event, before int64) bool {
	return e.TimeMs < before && len(e.F[event.OrderID]) > 0 && string(e.F[event.Type]) == "purchase"
}
