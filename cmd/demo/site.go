package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// demoSite is the demo site's settings: the shop the demo's pages are on
// (https://shop.example), in Paris.
const demoSite = `{"id":%q,"name":"Demo shop","domains":["shop.example"],"time_zone":"Europe/Paris","currency":"EUR"}`

// sites makes the demo site and this run's server API key through the
// dashboards' API (the site registry): the collector takes hits for a
// site only once it is made, and a server API key only once the registry
// has it.
type sites struct {
	base, token string
	client      *http.Client
}

// tokenFrom is the API token given, else the one make up keeps.
func tokenFrom(given string) string {
	if given != "" {
		return given
	}
	b, err := os.ReadFile(".local/api-token")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func (s sites) call(method, path, body string, contentType ...string) (int, []byte, error) {
	req, err := http.NewRequest(method, s.base+path, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	if len(contentType) > 0 && contentType[0] != "" {
		req.Header.Set("Content-Type", contentType[0])
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w (are the dashboards running? make up)", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, nil
}

// ensure makes site unless it exists.
func (s sites) ensure(site string) error {
	code, b, err := s.call("POST", "/api/v1/sites", fmt.Sprintf(demoSite, site))
	switch {
	case err != nil:
		return err
	case code == http.StatusCreated, code == http.StatusConflict:
		return nil
	}
	return fmt.Errorf("make site %s: %d %s", site, code, bytes.TrimSpace(b))
}

// newKey makes a server API key of site for this run.
func (s sites) newKey(site string) (key, id string, err error) {
	code, b, err := s.call("POST", "/api/v1/sites/"+site+"/keys", `{"name":"make demo"}`)
	if err != nil {
		return "", "", err
	}
	var k struct{ Key, ID string }
	if code != http.StatusCreated || json.Unmarshal(b, &k) != nil || k.Key == "" {
		return "", "", fmt.Errorf("make a key of site %s: %d %s", site, code, bytes.TrimSpace(b))
	}
	return k.Key, k.ID, nil
}

// revoke revokes the run's key: the demo leaves no key behind.
func (s sites) revoke(site, id string) error {
	code, b, err := s.call("DELETE", "/api/v1/sites/"+site+"/keys/"+id, "")
	if err == nil && code != http.StatusNoContent {
		err = fmt.Errorf("revoke key %s of site %s: %d %s", id, site, code, bytes.TrimSpace(b))
	}
	return err
}

// waitForKey waits until the collector takes key: its registry reads
// the sites again every few seconds (-sites-reload).
func (d *demo) waitForKey(key string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		req, _ := http.NewRequest("POST", d.base+"/api/v1/events", strings.NewReader("[]"))
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := d.client.Do(req)
		if err != nil {
			return fmt.Errorf("the collector: %w (is it running? make up)", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			return nil // known: the empty batch itself is refused
		}
		if time.Now().After(deadline) {
			return errors.New("the collector has not taken the new key: does it read the same ClickHouse database as the dashboards?")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// ensureRates loads made-up daily rates of the Swiss franc (0.94 per
// euro) for the last 400 days unless the exchange-rate table has some:
// the demo's Swiss orders are in CHF, converted to the site's EUR by the
// rate of their day. Real rates are the operator's (README, Currencies).
func (s sites) ensureRates() error {
	code, b, err := s.call("GET", "/api/v1/rates", "")
	if err != nil {
		return err
	}
	if code == http.StatusOK && bytes.Contains(b, []byte(`"CHF"`)) {
		return nil
	}
	var csv strings.Builder
	csv.WriteString("Date,CHF\n")
	today := time.Now().UTC().Truncate(24 * time.Hour)
	for d := 0; d <= 400; d++ {
		fmt.Fprintf(&csv, "%s,0.94\n", today.Add(-time.Duration(d)*24*time.Hour).Format(time.DateOnly))
	}
	code, b, err = s.call("POST", "/api/v1/rates", csv.String(), "text/csv")
	if err == nil && code >= 300 {
		err = fmt.Errorf("load rates: %d %s", code, bytes.TrimSpace(b))
	}
	return err
}

// demoGoals are the shop's saved conversions (README, Goals): the checkout
// page, a blog article read, and an order.
var demoGoals = []string{
	`{"site":%q,"name":"Paiement commencé","kind":"page","value":"/panier/paiement"}`,
	`{"site":%q,"name":"Article du blog lu","kind":"page","value":"/blog/*"}`,
	`{"site":%q,"name":"Commande","kind":"order"}`,
}

// ensureGoals saves the demo's goals unless site has goals already (a
// second run adds none).
func (s sites) ensureGoals(site string) error {
	code, b, err := s.call("GET", "/api/v1/goals?site="+site, "")
	if err != nil {
		return err
	}
	var t struct{ Rows [][]any }
	if code != http.StatusOK || json.Unmarshal(b, &t) != nil {
		return fmt.Errorf("goals of %s: %d %s", site, code, bytes.TrimSpace(b))
	}
	if len(t.Rows) > 0 {
		return nil
	}
	for _, g := range demoGoals {
		code, b, err := s.call("POST", "/api/v1/goals", fmt.Sprintf(g, site), "application/json")
		if err == nil && code != http.StatusCreated {
			err = fmt.Errorf("save goal: %d %s", code, bytes.TrimSpace(b))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// demoCommissions are the commission rates of the demo's two affiliates
// (origins: ?aff=blogrunning and ?aff=cashback-igraal), as a share of the
// revenue they bring, so the Affiliates card has a rate and a commission.
var demoCommissions = map[string]float64{"blogrunning": 0.08, "cashback-igraal": 0.04}

// ensureCommissions sets the demo's affiliates' rates on site (PATCH of
// the site registry) where the site has none for them: a rate the
// operator set stays.
func (s sites) ensureCommissions(site string) error {
	code, b, err := s.call("GET", "/api/v1/sites/"+site, "")
	if err != nil {
		return err
	}
	var cur struct {
		AffiliateRates map[string]float64 `json:"affiliate_rates"`
	}
	if code != http.StatusOK || json.Unmarshal(b, &cur) != nil {
		return fmt.Errorf("site %s: %d %s", site, code, bytes.TrimSpace(b))
	}
	add := map[string]float64{}
	for id, r := range demoCommissions {
		if _, ok := cur.AffiliateRates[id]; !ok {
			add[id] = r
		}
	}
	if len(add) == 0 {
		return nil
	}
	body, _ := json.Marshal(map[string]any{"affiliate_rates": add})
	code, b, err = s.call("PATCH", "/api/v1/sites/"+site, string(body), "application/json")
	if err == nil && code >= 300 {
		err = fmt.Errorf("set commissions of %s: %d %s", site, code, bytes.TrimSpace(b))
	}
	return err
}
