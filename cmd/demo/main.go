// Command demo sends a bounded amount of realistic shop traffic to a running
// collector, so a new install shows data at once: visitors from search,
// social, a newsletter and an affiliate browse pages, fill carts and order.
// Every hit goes through the real collector, Kafka and processor.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"

	"footfall/internal/envflag"
)

// page is one of the demo shop's pages; a product page has a product id.
type page struct{ path, title, product string }

// pages of the live visits: the history's French shop (its sections, then
// its catalog), so today's visitors browse the same pages as its past.
var pages = func() []page {
	var ps []page
	for _, s := range sections {
		ps = append(ps, page{s.path, s.title, ""})
	}
	for _, p := range catalog {
		ps = append(ps, page{p.path, p.name, p.id})
	}
	return ps
}()

var agents = []string{
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
	"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.6478.122 Mobile Safari/537.36",
	"Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
}

func main() { os.Exit(run()) }

// run sends the traffic and returns the exit code, after the run's key
// is revoked.
func run() int {
	collector, dashboards := "http://127.0.0.1:8080", "http://127.0.0.1:8090"
	site, key, token := "demo", "", ""
	visitors, days, live := 1500, 60, 40
	fs := flag.NewFlagSet("demo", flag.ExitOnError)
	fs.StringVar(&collector, "collector-url", collector, "collector base URL")
	fs.StringVar(&dashboards, "dashboards-url", dashboards, "dashboards base URL, whose API makes the demo site and its key")
	fs.StringVar(&token, "api-token", token, "the dashboards' API token (an admin's); empty reads .local/api-token, which make up keeps")
	fs.StringVar(&site, "demo-site", site, "site id the traffic is for; made (shop.example, Europe/Paris, EUR) unless it exists")
	fs.StringVar(&key, "demo-site-key", key, "server API key of that site; empty makes one for the run and revokes it at the end")
	fs.IntVar(&visitors, "demo-visitors", visitors, "visits of the history, spread over its days")
	fs.IntVar(&days, "demo-days", days, "days of history, sent with their time through the server API (at most -max-event-age back)")
	fs.IntVar(&live, "demo-live-visitors", live, "visitors sent live at the end, through the pixel and the snippet's endpoint")
	if err := envflag.Parse(fs, os.Args[1:], nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	d := demo{base: collector, site: site, key: key, run: fmt.Sprintf("%04x", rand.Uint32()&0xffff), client: &http.Client{Timeout: 10 * time.Second}}
	reg := sites{base: dashboards, token: tokenFrom(token), client: d.client}
	if key == "" {
		keyID, err := d.prepare(reg)
		if err != nil {
			slog.Error("demo site", "err", err)
			return 1
		}
		defer func() {
			if err := reg.revoke(site, keyID); err != nil {
				slog.Warn("demo key left behind", "err", err)
			}
		}()
	}
	start := time.Now()
	// The past first: days of visits and orders, the newsletters and
	// their readers' visits, sent as history through the server API.
	h := &history{d: &d, days: days, now: start.UTC()}
	h.build(visitors)
	if reg.token != "" {
		if err := reg.ensureRates(); err != nil {
			slog.Warn("no exchange rates: orders in CHF show as unconverted", "err", err)
		}
		if err := reg.ensureCommissions(site); err != nil {
			slog.Warn("no commission rates: the Affiliates card shows no commission", "err", err)
		}
		if err := reg.ensureGoals(site); err != nil {
			slog.Warn("no goals: the reports page's Goals card stays empty", "err", err)
		}
		if err := h.plan(reg); err != nil {
			slog.Error("demo newsletters", "err", err)
			return 1
		}
	}
	if err := h.send(); err != nil {
		slog.Error("demo history stopped", "err", err)
		return 1
	}
	slog.Info("demo history sent", "days", days, "events", len(h.events), "orders", h.orders, "people", len(h.people), "took", time.Since(start).Round(time.Millisecond))
	if reg.token != "" {
		opens, clicks, err := h.deliver(reg)
		if err != nil {
			slog.Error("demo newsletters", "err", err)
			return 1
		}
		slog.Info("demo newsletters sent", "campaigns", len(newsletters), "opens", opens, "clicks", clicks)
	}
	// Then today's visitors, live, as the snippet and the pixel send
	// them, for the realtime panel.
	var back []int
	for v := 0; v < live; v++ {
		if err := d.visit(v, 1); err != nil {
			slog.Error("demo stopped", "err", err)
			return 1
		}
		if rand.IntN(4) == 0 {
			back = append(back, v)
		}
	}
	// A quarter come back for a second session. Times are kept to the
	// second, so the return waits for the next one.
	time.Sleep(1100 * time.Millisecond)
	for _, v := range back {
		if err := d.visit(v, 2); err != nil {
			slog.Error("demo stopped", "err", err)
			return 1
		}
	}
	if reg.token != "" {
		if n, err := h.classify(reg, 45*time.Second); err != nil {
			slog.Warn("demo populations", "err", err)
		} else {
			slog.Info("demo people classified by hand", "people", n)
		}
	}
	slog.Info("demo traffic sent", "live_visitors", live, "returning", len(back), "requests", d.hits, "live_orders", d.orders, "took", time.Since(start).Round(time.Millisecond))
	return 0
}

// prepare makes the demo site unless it exists and a server API key for
// the run, and waits until the collector takes it; it returns the key's id.
func (d *demo) prepare(reg sites) (string, error) {
	if reg.token == "" {
		return "", errors.New("no API token: give -api-token (FOOTFALL_API_TOKEN), or run make up, which keeps one in .local/api-token")
	}
	if err := reg.ensure(d.site); err != nil {
		return "", err
	}
	key, id, err := reg.newKey(d.site)
	if err != nil {
		return "", err
	}
	d.key = key
	if err := d.waitForKey(key, 15*time.Second); err != nil {
		reg.revoke(d.site, id)
		return "", err
	}
	return id, nil
}

type demo struct {
	base, site, key string
	run             string // tells this run's visitors from an earlier run's
	client          *http.Client
	hits, orders    int
}

// visit sends one session of visitor n; the same n is the same visitor.
func (d *demo) visit(n, session int) error {
	vid := fmt.Sprintf("demo-%04d-%s", n, d.run)
	sid := fmt.Sprintf("%s-s%d", vid, session)
	ua := agents[n%len(agents)]
	e := origins[pick()] // the history's sources and affiliates
	ref := e.referrer
	views := 1 + rand.IntN(6)
	for i := 0; i < views; i++ {
		p := pages[rand.IntN(len(pages))]
		if i == 0 {
			p = pages[rand.IntN(3)]
		}
		page := "https://shop.example" + p.path
		if i == 0 {
			page += e.query
		}
		q := url.Values{"site": {d.site}, "visitor_id": {vid}, "session_id": {sid}, "url": {page}, "referrer": {ref}, "title": {p.title}}
		if err := d.do("GET", "/p.gif?"+q.Encode(), ua, nil, ""); err != nil {
			return err
		}
		if p.product != "" { // as the snippet's viewProduct sends it
			body := fmt.Sprintf(`{"site":%q,"type":"product_view","name":%q,"visitor_id":%q,"session_id":%q,"url":%q,"props":{"id":%q,"price":%d}}`,
				d.site, p.title, vid, sid, page, p.product, priceOf(p.product))
			if err := d.do("POST", "/e", ua, []byte(body), ""); err != nil {
				return err
			}
		}
		ref = page
	}
	if n%5 == 0 && session == 1 { // a fifth subscribe to the newsletter on their first visit
		body := fmt.Sprintf(`{"site":%q,"type":"subscribe","visitor_id":%q,"session_id":%q,"user_id":"demo-%04d@example.com","url":"https://shop.example/","props":{"lists":"newsletter","source":"footer-form","wording":"nl-2026-10"}}`,
			d.site, vid, sid, n)
		if err := d.do("POST", "/e", ua, []byte(body), ""); err != nil {
			return err
		}
		// The browser's word is a claim: the shop mails a confirmation
		// link, and once it is followed its backend confirms through the
		// server API (double opt-in), which joins the visitor to them.
		body = fmt.Sprintf(`{"type":"confirm","visitor_id":%q,"user_id":"demo-%04d@example.com","props":{"lists":"newsletter"}}`, vid, n)
		if err := d.do("POST", "/api/v1/events", "", []byte(body), d.key); err != nil {
			return err
		}
	}
	if rand.IntN(4) == 0 { // a quarter fill a cart
		c := catalog[rand.IntN(len(catalog))]
		body := fmt.Sprintf(`{"site":%q,"type":"add_to_cart","visitor_id":%q,"session_id":%q,"url":"https://shop.example%s","props":{"sku":%q,"price":"%d.00"}}`, d.site, vid, sid, c.path, c.id, c.price)
		if err := d.do("POST", "/e", ua, []byte(body), ""); err != nil {
			return err
		}
		if rand.IntN(2) == 0 { // half of them order, reported by the shop's backend
			body := fmt.Sprintf(`{"site":%q,"type":"begin_checkout","visitor_id":%q,"session_id":%q,"url":"https://shop.example/panier/paiement"}`, d.site, vid, sid)
			if err := d.do("POST", "/e", ua, []byte(body), ""); err != nil {
				return err
			}
			body = fmt.Sprintf(`{"type":"purchase","visitor_id":%q,"session_id":%q,"order_id":"D-%s-%04d-%d","revenue":"%d.00","currency":"EUR"}`,
				vid, sid, d.run, n, session, c.price)
			if err := d.do("POST", "/api/v1/events", "", []byte(body), d.key); err != nil {
				return err
			}
			d.orders++
		}
	}
	return nil
}

func (d *demo) do(method, path, ua string, body []byte, key string) error {
	for {
		req, err := http.NewRequest(method, d.base+path, bytes.NewReader(body))
		if err != nil {
			return err
		}
		if ua != "" {
			req.Header.Set("User-Agent", ua)
		}
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := d.client.Do(req)
		if err != nil {
			return fmt.Errorf("%s %s: %w (is the collector running? make up)", method, path, err)
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		// The demo's visitors all come from this one address, over the
		// collector's rate limit for one (-rate-limit-address): wait as
		// asked, as a well-behaved sender does, and send again. The pixel
		// answers its image anyway, with the reason in a header.
		if resp.StatusCode == http.StatusTooManyRequests || resp.Header.Get("X-Footfall-Dropped") == "rate-limit" {
			secs, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
			time.Sleep(time.Duration(max(secs, 1)) * time.Second)
			continue
		}
		if resp.StatusCode >= 300 {
			return fmt.Errorf("%s %s: %s %s", method, path, resp.Status, msg)
		}
		if why := resp.Header.Get("X-Footfall-Rejected"); why != "" { // the pixel's image of a refused hit
			return fmt.Errorf("%s %s: refused: %s", method, path, why)
		}
		d.hits++
		return nil
	}
}

// priceOf is the catalog's price of product id, 0 for none.
func priceOf(id string) int {
	for _, p := range catalog {
		if p.id == id {
			return p.price
		}
	}
	return 0
}
