package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"regexp"
	"strings"
	"time"

	"footfall/internal/links"
)

// The demo's two newsletters: each made through the dashboards' API with
// its cost, sent to the subscribers of the history, read and clicked
// through the collector's /o and /c (their opens and clicks take the
// time they are followed: the e-mail endpoints carry no time), and the
// visits and orders of its readers sent as history after its sending.

type newsletter struct {
	slug    string
	name    string
	daysAgo int
	cost    float64
	id      string
	readers []*visitor
}

var newsletters = []*newsletter{
	{slug: "soldes-ete", name: "Soldes d'été", daysAgo: 40, cost: 90},
	{slug: "collection-automne", name: "Nouvelle collection automne", daysAgo: 12, cost: 120},
}

// plan makes each campaign and adds its readers' visits to the history.
func (h *history) plan(reg sites) error {
	var subscribers []*visitor
	for _, v := range h.people {
		if v.subscribed {
			subscribers = append(subscribers, v)
		}
	}
	for _, n := range newsletters {
		sent := h.now.Add(-time.Duration(n.daysAgo) * 24 * time.Hour).Truncate(time.Hour).Add(-2 * time.Hour)
		body := fmt.Sprintf(`{"site":%q,"id":%q,"name":%q,"purpose":"newsletter","sent_at":%q,"cost":%g,"currency":"EUR"}`,
			h.d.site, n.slug+"-"+h.d.run, n.name, at(sent), n.cost)
		code, b, err := reg.call("POST", "/api/v1/campaigns", body, "")
		if err != nil {
			return err
		}
		var c struct{ ID string }
		if code != http.StatusCreated || json.Unmarshal(b, &c) != nil {
			return fmt.Errorf("make campaign %s: %d %s", n.name, code, b)
		}
		n.id = c.ID
		for _, v := range subscribers {
			if rand.IntN(100) < 55 {
				n.readers = append(n.readers, v)
			}
		}
		// A third of the readers come to the shop from it, within two days.
		for i, v := range n.readers {
			if i%3 != 0 {
				continue
			}
			start := sent.Add(time.Duration(1+rand.IntN(40)) * time.Hour)
			h.visit(v, start, origin{referrer: "", query: "?utm_source=newsletter&utm_medium=email&utm_campaign=" + n.id}, 30)
		}
	}
	return nil
}

var clickLink = regexp.MustCompile(`href="([^"]+/c/[^"]+)"`)

// deliver imports the recipients of each campaign, and their readers open
// and click it.
func (h *history) deliver(reg sites) (opens, clicks int, err error) {
	for _, n := range newsletters {
		var csv strings.Builder
		csv.WriteString("email\n")
		for _, v := range h.people {
			if v.subscribed {
				csv.WriteString(v.email + "\n")
			}
		}
		code, b, err := reg.call("POST", "/api/v1/campaigns/"+n.id+"/recipients?site="+h.d.site+"&consent_wording=nl-2026-fr", csv.String(), "text/csv")
		if err != nil || code != http.StatusOK {
			return opens, clicks, fmt.Errorf("recipients of %s: %d %s %v", n.id, code, b, err)
		}
		code, b, err = reg.call("GET", "/api/v1/campaigns/"+n.id+"/recipients?site="+h.d.site, "", "")
		var list []struct{ Email, Token string }
		if err != nil || code != http.StatusOK || json.Unmarshal(b, &list) != nil {
			return opens, clicks, fmt.Errorf("recipients of %s: %d %s %v", n.id, code, b, err)
		}
		token := map[string]string{}
		for _, r := range list {
			token[r.Email] = r.Token
		}
		html := `<html><body><p>Bonjour,</p><a href="https://shop.example/chaussures?utm_source=newsletter&amp;utm_medium=email&amp;utm_campaign=` + n.id +
			`">Voir la sélection</a> <a href="https://shop.example/bonnets">Les bonnets</a></body></html>`
		code, b, err = reg.call("POST", "/api/v1/campaigns/"+n.id+"/rewrite?site="+h.d.site, html, "text/html")
		var hrefs []string
		if err == nil && code == http.StatusOK {
			for _, m := range clickLink.FindAllStringSubmatch(string(b), -1) {
				hrefs = append(hrefs, strings.ReplaceAll(m[1], "&amp;", "&"))
			}
		}
		for i, v := range n.readers {
			tok := token[v.email]
			if tok == "" {
				continue
			}
			if err := h.d.get(links.OpenURL(h.d.base, tok), v.ua); err != nil {
				return opens, clicks, err
			}
			opens++
			if i%3 == 0 && len(hrefs) > 0 {
				if err := h.d.get(links.Personalize(hrefs[i%len(hrefs)], tok), v.ua); err != nil {
					return opens, clicks, err
				}
				clicks++
				if i%2 == 0 { // half of the clickers order, now
					if err := h.liveOrder(v, n.id); err != nil {
						return opens, clicks, err
					}
				}
			}
		}
	}
	return opens, clicks, nil
}

// get follows no redirect: a click answers one to the shop's page.
func (d *demo) get(u, ua string) error {
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", ua)
	c := *d.client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode >= 400 {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return nil
}

// populations the shop gives its customers by hand.
var populations = []string{"particulier", "pro", "revendeur", "grossiste"}

// shopClasses are classes in the shop's own words, given by hand to a few
// people (README, POST /api/v1/profile/manual): they win over the
// computed class, so the people page's classes table lists them.
var shopClasses = []string{"VIP", "clients fidèles"}

// classify gives some identified people a population, and a few a class
// of the shop's own, as the shop's staff does in the dashboard, once the
// processor has them (a person the site has not seen yet cannot be
// classified).
func (h *history) classify(reg sites, within time.Duration) (int, error) {
	deadline := time.Now().Add(within)
	n := 0
	for i, v := range h.people {
		manual := map[string]any{}
		if i%4 == 0 {
			manual["populations"] = []string{populations[(i/4)%len(populations)]}
		}
		if i%6 == 1 { // one in six: VIP, clients fidèles, VIP...
			manual["class"] = shopClasses[(i/6)%len(shopClasses)]
		}
		if len(manual) == 0 {
			continue
		}
		b, _ := json.Marshal(manual)
		body := string(b)
		for {
			code, b, err := reg.call("POST", "/api/v1/profile/manual?site="+h.d.site+"&email="+v.email, body, "application/json")
			if err != nil {
				return n, err
			}
			if code < 300 {
				n++
				break
			}
			if time.Now().After(deadline) {
				return n, fmt.Errorf("classify %s: %d %s", v.email, code, b)
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
	return n, nil
}

// liveOrder: a reader lands from the newsletter's link and orders, as the
// snippet and the shop's backend send it now, after the click (a
// campaign is credited with the orders placed within its window after a
// recipient's click).
func (h *history) liveOrder(v *visitor, campaign string) error {
	sid := fmt.Sprintf("%s-nl-%s", v.id, campaign)
	p := catalog[rand.IntN(len(catalog))]
	landing := "https://shop.example" + p.path + "?utm_source=newsletter&utm_medium=email&utm_campaign=" + campaign
	for _, typ := range []string{"pageview", "add_to_cart", "begin_checkout"} {
		b, _ := json.Marshal(map[string]any{"site": h.d.site, "type": typ, "visitor_id": v.id, "session_id": sid, "url": landing, "title": p.name})
		if err := h.d.do("POST", "/e", v.ua, b, ""); err != nil {
			return err
		}
	}
	h.orders++
	b, _ := json.Marshal(map[string]any{"type": "purchase", "visitor_id": v.id, "session_id": sid, "user_id": v.email,
		"order_id": fmt.Sprintf("FR-%s-%05d", h.d.run, h.orders), "revenue": fmt.Sprintf("%d.00", p.price), "currency": "EUR"})
	return h.d.do("POST", "/api/v1/events", "", b, h.d.key)
}
