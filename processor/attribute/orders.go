package attribute

import (
	"context"
	"fmt"
	"time"

	"github.com/go-faster/city"

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
//
// Except that a copy written before without a session and credited
// (direct) says nothing of where the buyer came from (the server's copy
// under u:<id>, which has no landing): an in-session copy written later
// gives the order its own credit, and the copies written before get it
// too (an ALTER TABLE ... UPDATE of their visit_* columns, qRecredit), so
// that the order sits under one source. The order's events change, and
// their copies in purchases (migration 0032), which the breakdowns read
// for orders and for the purchases' traffic by source; sources_daily
// counts page views and visitors, and breakdowns_daily leaves purchases
// out.

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

// qRecredit gives the earlier sessionless copies of orders the credit of
// a later copy in a session (see provisional). A mutation: ClickHouse
// rewrites the parts that hold the site's purchases since @since, once
// for all the orders of a batch. The orders are named by their
// cityHash64 (orderHashes), not their ids: a mutation's text stays in
// system.mutations and its mutation_N.txt file, and order ids are
// identifiers an erasure removes everywhere else.
var qRecredit = chsql.New("attribute.recredit_orders", `ALTER TABLE events UPDATE visit_source = @source, visit_medium = @medium,
    visit_utm_source = @utm_source, visit_utm_medium = @utm_medium, visit_utm_campaign = @utm_campaign, visit_utm_term = @utm_term,
    visit_utm_content = @utm_content, visit_affiliate = @affiliate, visit_click_id = @click_id
`+recreditWhere)

// recreditWhere selects the copies a recredit rewrites, in events and purchases.
const recreditWhere = `WHERE site_id = @site AND time >= @since AND type = 'purchase' AND session_id = '' AND cityHash64(order_id) IN @order_hashes
  AND visit_source = '(direct)'`

// qRecreditPurchases does the same to purchases (migration 0032), the copy
// of the purchase events whose visit_source and visit_medium the
// breakdowns read. It runs first: a processor stopped between the two
// finds the events' copies still provisional and credits them again.
var qRecreditPurchases = chsql.New("attribute.recredit_purchases", `ALTER TABLE purchases UPDATE visit_source = @source, visit_medium = @medium
`+recreditWhere)

// provisional says whether c, a copy written before, was credited
// (direct) without a session: it had no landing to be credited by, and a
// later copy in a session says more.
func (c *orderCopy) provisional() bool { return !c.inSession && c.credit.Source == Direct.Source }

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

func (a *Attributor) cachedOrder(k key) (orderCopy, bool) {
	if c, ok := a.youngOrders[k]; ok {
		return c, true
	}
	c, ok := a.olderOrders[k]
	if ok {
		a.keepOrder(k, c)
	}
	return c, ok
}

func (a *Attributor) keepOrder(k key, c orderCopy) {
	if len(a.youngOrders) >= a.size {
		a.olderOrders, a.youngOrders = a.youngOrders, make(map[key]orderCopy, a.size)
	}
	delete(a.olderOrders, k)
	c.credit = c.credit.clone()
	a.youngOrders[key{cloneString(k.site), cloneString(k.visitor)}] = c
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
		if c, ok := a.cachedOrder(k); ok {
			chosen[k] = &c
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
	// Orders first seen in this batch: the credit of their first copy;
	// orders whose copies written before are provisional: that of the
	// batch's first copy in a session, if it has one.
	stored := map[key]bool{}
	provisional := map[key]bool{}
	for k, c := range chosen {
		stored[k] = c != nil
		provisional[k] = c != nil && c.provisional()
	}
	for i := range hits {
		h := &hits[i]
		if h.Order == "" || !h.Counted {
			continue
		}
		k := key{h.Site, h.Order}
		if stored[k] && !(provisional[k] && h.Session != "") {
			continue
		}
		c := &orderCopy{inSession: h.Session != "", at: h.At, credit: out[i]}
		if cur := chosen[k]; cur == nil || cur.provisional() && c.inSession || c.before(cur) {
			chosen[k] = c
		}
	}
	if err := a.recredit(ctx, chosen, provisional); err != nil {
		return err
	}
	for i := range hits {
		h := &hits[i]
		if h.Order == "" || !h.Counted {
			continue
		}
		out[i] = chosen[key{h.Site, h.Order}].credit
	}
	for k, c := range chosen {
		a.keepOrder(k, *c)
	}
	return nil
}

// recredit gives the copies written before of the orders that were
// provisional and now have a copy in a session that credit (qRecredit),
// one statement per site and credit.
func (a *Attributor) recredit(ctx context.Context, chosen map[key]*orderCopy, provisional map[key]bool) error {
	type group struct {
		site   string
		credit Touch
	}
	orders := map[group][]string{}
	since := map[group]int64{}
	for k, was := range provisional {
		c := chosen[k]
		if !was || !c.inSession || c.credit.Source == Direct.Source {
			continue
		}
		g := group{k.site, c.credit}
		orders[g] = append(orders[g], k.visitor)
		if s, ok := since[g]; !ok || c.at < s {
			since[g] = c.at
		}
	}
	if a.db == nil {
		return nil
	}
	for g, list := range orders {
		t := &g.credit
		args := chsql.Args{"site": g.site, "since": time.Unix(max(since[g]-OrderWindow, 0), 0).UTC(), "order_hashes": orderHashes(list),
			"source": t.Source, "medium": t.Medium, "utm_source": t.UTMSource, "utm_medium": t.UTMMedium,
			"utm_campaign": t.UTMCampaign, "utm_term": t.UTMTerm, "utm_content": t.UTMContent, "affiliate": t.Affiliate,
			"click_id": t.ClickID}
		purchases := chsql.Args{"site": g.site, "since": args["since"], "order_hashes": args["order_hashes"], "source": t.Source, "medium": t.Medium}
		if err := a.db.Exec(ctx, qRecreditPurchases, purchases); err != nil {
			return fmt.Errorf("attribution: credit %d orders' earlier copies to %s in purchases: %w", len(list), t.Source, err)
		}
		if err := a.db.Exec(ctx, qRecredit, args); err != nil {
			return fmt.Errorf("attribution: credit %d orders' earlier copies to %s: %w", len(list), t.Source, err)
		}
		recredited.Add(float64(len(list)))
	}
	return nil
}

// orderHashes are ids as ClickHouse's cityHash64 hashes them.
func orderHashes(ids []string) chsql.Set[uint64] {
	out := make(chsql.Set[uint64], 0, len(ids))
	for _, id := range ids {
		out = append(out, city.CH64([]byte(id)))
	}
	return out
}
