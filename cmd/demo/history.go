package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sort"
	"time"
)

// The demo's history: days of a French shop's visits, carts and orders,
// sent through the server API with their time (history, README "Sending
// hits"), so that they go through the collector, Kafka and the processor
// as live events do and land on their own days: a chart of many days,
// sessions of several page views minutes apart, the funnel's steps from
// product to purchase, returning visitors, orders in euros and Swiss
// francs, affiliates, and customers whose last order is months old (the
// reactivation list).

// product is one of the shop's products.
type product struct {
	path, name, id string
	price          int // euros
}

var catalog = []product{
	{"/chaussures/trail-runner", "Trail Runner", "TR-42", 89},
	{"/chaussures/city-walker", "City Walker", "CW-7", 119},
	{"/chaussures/sandale-ete", "Sandale été", "SE-2", 49},
	{"/bonnets/bonnet-laine", "Bonnet en laine", "WB-3", 25},
	{"/sacs/sac-a-dos-20l", "Sac à dos 20 L", "BP-20", 69},
}

var sections = []struct{ path, title string }{
	{"/", "Accueil"}, {"/chaussures", "Chaussures"}, {"/bonnets", "Bonnets"}, {"/sacs", "Sacs"},
	{"/blog/choisir-ses-chaussures-de-trail", "Choisir ses chaussures de trail"}, {"/a-propos", "À propos"},
	{"/livraison", "Livraison et retours"},
}

// origin is how a session starts: its referrer and landing query, its
// weight out of 100, and the affiliate it credits.
type origin struct {
	weight          int
	referrer, query string
}

var origins = []origin{
	{30, "https://www.google.fr/", ""},
	{18, "", ""},
	{10, "https://www.google.com/", "?gclid=demo-ads&utm_source=google&utm_medium=cpc&utm_campaign=marque"},
	{8, "https://www.facebook.com/", ""},
	{7, "https://www.instagram.com/", "?utm_source=instagram&utm_medium=social&utm_campaign=ete"},
	{9, "https://blog-running.example/meilleures-chaussures", "?aff=blogrunning"},
	{6, "https://www.igraal.example/boutique", "?aff=cashback-igraal"},
	{5, "https://www.bing.com/", ""},
	{4, "https://www.qwant.com/", ""},
	{3, "https://duckduckgo.com/", ""},
}

// visitor is one browser of the history; its person (email) once known.
type visitor struct {
	id, ua, ip, email string
	swiss             bool
	subscribed        bool
}

// history builds and sends the demo's past.
type history struct {
	d      *demo
	days   int
	now    time.Time
	events []map[string]any
	orders int
	people []*visitor // identified people, for the newsletters
	n      int
}

func (h *history) add(e map[string]any) { h.events = append(h.events, e) }

// at formats t for the server API's time field.
func at(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// build makes the visits of every day, busier on weekends and in the
// evening, and the older customers' orders.
func (h *history) build(visitors int) {
	perDay := max(visitors/h.days, 1)
	var pool []*visitor
	for day := h.days; day >= 1; day-- {
		date := h.now.Add(-time.Duration(day) * 24 * time.Hour)
		n := perDay/2 + rand.IntN(perDay+1)
		if wd := date.Weekday(); wd == time.Saturday || wd == time.Sunday {
			n += perDay / 3
		}
		for i := 0; i < n; i++ {
			var v *visitor
			if len(pool) > 0 && rand.IntN(100) < 30 { // a returning visitor
				v = pool[rand.IntN(len(pool))]
			} else {
				v = h.newVisitor()
				pool = append(pool, v)
			}
			start := date.Truncate(24 * time.Hour).Add(time.Duration(7*3600+rand.IntN(16*3600)) * time.Second)
			h.session(v, start, origins[pick()])
		}
	}
	h.pastCustomers(40)
}

func (h *history) newVisitor() *visitor {
	h.n++
	v := &visitor{
		id: fmt.Sprintf("demo-h%04d-%s", h.n, h.d.run), ua: agents[rand.IntN(len(agents))],
		ip: fmt.Sprintf("90.%d.%d.%d", 1+rand.IntN(120), rand.IntN(256), 1+rand.IntN(250)), swiss: rand.IntN(100) < 12,
	}
	if v.swiss {
		v.ip = fmt.Sprintf("178.%d.%d.%d", 192+rand.IntN(30), rand.IntN(256), 1+rand.IntN(250))
	}
	return v
}

func pick() int {
	r := rand.IntN(100)
	for i, o := range origins {
		if r < o.weight {
			return i
		}
		r -= o.weight
	}
	return 0
}

// session is one visit of v from start: page views a few seconds to
// minutes apart, a product or two, and sometimes the way to the order.
func (h *history) session(v *visitor, start time.Time, o origin) {
	h.visit(v, start, o, 0)
}

// visit is session with keen more chances out of 100 at each step to the
// order (a newsletter's reader came for its offer).
func (h *history) visit(v *visitor, start time.Time, o origin, keen int) {
	sid := fmt.Sprintf("%s-%d", v.id, start.Unix())
	t := start
	ref := o.referrer
	base := func(typ, url string) map[string]any {
		e := map[string]any{"type": typ, "visitor_id": v.id, "session_id": sid, "url": url, "time": at(t),
			"user_agent": v.ua, "ip": v.ip}
		if v.email != "" {
			e["user_id"] = v.email
		}
		return e
	}
	view := func(path, title string, query string) string {
		u := "https://shop.example" + path + query
		e := base("pageview", u)
		e["title"], e["referrer"] = title, ref
		h.add(e)
		ref = u
		t = t.Add(time.Duration(15+rand.IntN(150)) * time.Second)
		return u
	}
	s := sections[rand.IntN(3)]
	view(s.path, s.title, o.query)
	var p product
	for i := rand.IntN(5) + keen/30; i > 0; i-- {
		if rand.IntN(3) == 0 {
			s := sections[rand.IntN(len(sections))]
			view(s.path, s.title, "")
			continue
		}
		p = catalog[rand.IntN(len(catalog))]
		u := view(p.path, p.name, "")
		e := base("product_view", u)
		e["name"], e["props"] = p.name, map[string]any{"id": p.id, "price": p.price, "section": "/" + splitFirst(p.path)}
		h.add(e)
	}
	if p.id == "" || rand.IntN(100) >= 35+keen {
		h.maybeSubscribe(v, t, sid)
		return
	}
	e := base("add_to_cart", "https://shop.example"+p.path)
	e["name"], e["props"] = p.name, map[string]any{"sku": p.id, "price": p.price}
	h.add(e)
	t = t.Add(time.Duration(20+rand.IntN(90)) * time.Second)
	if rand.IntN(100) >= 60+keen/2 {
		return // the cart is left
	}
	view("/panier/paiement", "Paiement", "")
	h.add(base("begin_checkout", "https://shop.example/panier/paiement"))
	t = t.Add(time.Duration(60+rand.IntN(240)) * time.Second)
	if rand.IntN(100) >= 70+keen/3 {
		return // the checkout is left
	}
	if v.email == "" {
		v.email = fmt.Sprintf("client%04d-%s@example.com", h.n, h.d.run)
		h.people = append(h.people, v)
	}
	h.purchase(v, t, sid, p)
	view("/merci", "Merci pour votre commande", "")
}

// purchase is an order of v at t, as the shop's backend reports it: in
// francs for Swiss visitors, else in euros.
func (h *history) purchase(v *visitor, t time.Time, sid string, p product) {
	h.orders++
	qty := 1 + rand.IntN(2)
	amount, currency := float64(p.price*qty), "EUR"
	if v.swiss {
		amount, currency = float64(p.price*qty)*0.94+0.9, "CHF"
	}
	e := map[string]any{"type": "purchase", "visitor_id": v.id, "user_id": v.email, "order_id": fmt.Sprintf("FR-%s-%05d", h.d.run, h.orders),
		"revenue": fmt.Sprintf("%.2f", amount), "currency": currency, "time": at(t), "name": p.name,
		"props": map[string]any{"items": qty}}
	if sid != "" {
		e["session_id"], e["url"] = sid, "https://shop.example/panier/paiement"
	}
	h.add(e)
}

// maybeSubscribe: some visitors sign up to the newsletter, a double
// opt-in the shop's backend confirms.
func (h *history) maybeSubscribe(v *visitor, t time.Time, sid string) {
	if v.subscribed || rand.IntN(100) >= 15 {
		return
	}
	if v.email == "" {
		v.email = fmt.Sprintf("lecteur%04d-%s@example.com", h.n, h.d.run)
		h.people = append(h.people, v)
	}
	v.subscribed = true
	h.add(map[string]any{"type": "confirm", "visitor_id": v.id, "user_id": v.email, "time": at(t),
		"props": map[string]any{"lists": "newsletter", "source": "formulaire-pied-de-page", "wording": "nl-2026-fr"}})
}

// pastCustomers are customers of the shop's own records: orders from 100
// to 300 days ago and none since (the reactivation list), imported as
// history with their person and no visit.
func (h *history) pastCustomers(n int) {
	for i := 0; i < n; i++ {
		h.n++
		v := &visitor{id: fmt.Sprintf("demo-old%04d-%s", i, h.d.run), email: fmt.Sprintf("ancien%04d-%s@example.com", i, h.d.run)}
		for k := 1 + rand.IntN(3); k > 0; k-- {
			t := h.now.Add(-time.Duration(100+rand.IntN(200))*24*time.Hour + time.Duration(rand.IntN(12*3600))*time.Second)
			h.purchase(v, t, "", catalog[rand.IntN(len(catalog))])
		}
	}
}

func splitFirst(path string) string {
	for i := 1; i < len(path); i++ {
		if path[i] == '/' {
			return path[1:i]
		}
	}
	return path[1:]
}

// send posts the history in time order, in batches the collector takes.
func (h *history) send() error {
	sort.SliceStable(h.events, func(i, j int) bool { return h.events[i]["time"].(string) < h.events[j]["time"].(string) })
	const batch = 50
	for start := 0; start < len(h.events); start += batch {
		body, err := json.Marshal(h.events[start:min(start+batch, len(h.events))])
		if err != nil {
			return err
		}
		if err := h.d.do(http.MethodPost, "/api/v1/events", "", body, h.d.key); err != nil {
			return err
		}
	}
	return nil
}
