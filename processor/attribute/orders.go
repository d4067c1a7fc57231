package attribute

import (
	"context"
	"fmt"
	"time"

	"footfall/internal/chsql"
)

// One order, one credit. A shop often reports an order twice, the browser
// from its thank-you page and the shop's server with the visitor id (or
// only the customer's user id, visitor u:<id>), and the reports count
// each order once by its order_id (internal/orders). The rule may credit
// the two copies differently: the server's copy comes without a session,
// under another visitor id, or before the browser's landing. Two credits
// would put the order under two sources, each counting it once, so that
// a breakdown by source shows more orders than the shop had. So every
// copy of an order takes one credit:
//
//  1. the credit a copy written before got (any copy, read from the
//     cache or, for an order the processor does not remember, from the
//     events of the OrderWindow before the batch's copy);
//  2. else, among the batch's copies, the credit of the one in a session
//     (the browser's, whose session says what brought the visit), the
//     earliest first, then the least credit (as compare orders them).

// OrderWindow is how long after an order's first copy another copy
// takes its credit. A copy later than that is credited by the rule alone.
const OrderWindow = 24 * 60 * 60 // seconds

// qOrders: the credits of orders' copies written since a time.
var qOrders = chsql.New("attribute.orders", `SELECT order_id, session_id != '', min(time), visit_source, visit_medium,
       visit_utm_source, visit_utm_medium, visit_utm_campaign, visit_utm_term, visit_utm_content, visit_affiliate, visit_click_id
FROM events
WHERE site_id = @site AND time >= @since AND type = 'purchase' AND order_id IN @orders AND visit_source != ''
  AND is_bot = 0 AND ingest != 'email' AND visitor_id != ''
GROUP BY order_id, session_id != '', visit_source, visit_medium, visit_utm_source, visit_utm_medium, visit_utm_campaign,
         visit_utm_term, visit_utm_content, visit_affiliate, visit_click_id`)

// orderCopy is a copy of an order, to choose the order's credit from.
type orderCopy struct {
	inSession bool
	at        int64
	credit    Touch
}

// before says whether c's credit goes before o's (step 2 above).
func (c *orderCopy) before(o *orderCopy) bool {
	if c.inSession != o.inSession {
		return c.inSession
	}
	if c.at != o.at {
		return c.at < o.at
	}
	return compare(&c.credit, &o.credit) < 0
}

func (a *Attributor) cachedOrder(k key) (Touch, bool) {
	if t, ok := a.youngOrders[k]; ok {
		return t, true
	}
	t, ok := a.olderOrders[k]
	if ok {
		a.keepOrder(k, t)
	}
	return t, ok
}

func (a *Attributor) keepOrder(k key, t Touch) {
	if len(a.youngOrders) >= a.size {
		a.olderOrders, a.youngOrders = a.youngOrders, make(map[key]Touch, a.size)
	}
	delete(a.olderOrders, k)
	a.youngOrders[key{cloneString(k.site), cloneString(k.visitor)}] = t.clone()
}

// creditOrders gives every copy of an order in hits, credited by the rule
// in out, the order's one credit.
func (a *Attributor) creditOrders(ctx context.Context, hits []Hit, out []Touch) error {
	chosen := map[key]*orderCopy{}
	type need struct {
		orders []string
		since  int64
	}
	bySite := map[string]*need{}
	for i := range hits {
		h := &hits[i]
		if h.Order == "" || !h.Counted {
			continue
		}
		k := key{h.Site, h.Order}
		if _, ok := chosen[k]; ok {
			continue
		}
		if t, ok := a.cachedOrder(k); ok {
			chosen[k] = &orderCopy{credit: t}
			continue
		}
		chosen[k] = nil
		n := bySite[h.Site]
		if n == nil {
			n = &need{since: h.At}
			bySite[h.Site] = n
		}
		n.orders = append(n.orders, h.Order)
		n.since = min(n.since, h.At)
	}
	if len(chosen) == 0 {
		return nil
	}
	// Copies written before.
	for site, n := range bySite {
		for start := 0; start < len(n.orders); start += maxPerQuery {
			chunk := n.orders[start:min(start+maxPerQuery, len(n.orders))]
			args := chsql.Args{"site": site, "orders": chsql.Set[string](chunk), "since": time.Unix(max(n.since-OrderWindow, 0), 0).UTC()}
			err := a.each(ctx, qOrders, args, func(scan func(...any) error) error {
				var order string
				var inSession uint8
				var first time.Time
				var c orderCopy
				t := &c.credit
				if err := scan(&order, &inSession, &first, &t.Source, &t.Medium, &t.UTMSource, &t.UTMMedium, &t.UTMCampaign,
					&t.UTMTerm, &t.UTMContent, &t.Affiliate, &t.ClickID); err != nil {
					return err
				}
				c.inSession, c.at = inSession == 1, first.Unix()
				k := key{site, order}
				if cur, ok := chosen[k]; ok && (cur == nil || c.before(cur)) {
					chosen[k] = &c
				}
				return nil
			})
			if err != nil {
				return fmt.Errorf("attribution: the credit of %d orders: %w", len(chunk), err)
			}
		}
	}
	// Orders first seen in this batch: the credit of their first copy.
	stored := map[key]bool{}
	for k, c := range chosen {
		stored[k] = c != nil
	}
	for i := range hits {
		h := &hits[i]
		if h.Order == "" || !h.Counted {
			continue
		}
		k := key{h.Site, h.Order}
		if stored[k] {
			continue
		}
		c := &orderCopy{inSession: h.Session != "", at: h.At, credit: out[i]}
		if cur := chosen[k]; cur == nil || c.before(cur) {
			chosen[k] = c
		}
	}
	for i := range hits {
		h := &hits[i]
		if h.Order == "" || !h.Counted {
			continue
		}
		out[i] = chosen[key{h.Site, h.Order}].credit
	}
	for k, c := range chosen {
		a.keepOrder(k, c.credit)
	}
	return nil
}
