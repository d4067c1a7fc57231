package system

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"footfall/collector/app"
	"footfall/dashboards/api"
	"footfall/internal/campaigns"
	"footfall/internal/event"
	"footfall/internal/links"
	"footfall/internal/profiles"
	"footfall/processor/imports"
	"footfall/tests/stacktest"
)

// TestErasureErases builds one person, Ann, through every entry point (the
// snippet's JSON from two browsers, the pixel, the shop's server API with
// a second user id only, a newsletter import, open, click and landing),
// beside Bob, who must stay. It exports her, erases her by e-mail, then
// replays every Kafka record of the test again, opens and clicks her old
// newsletter links, sends a hit from her old browser and imports her
// again. Then no String column of any table holds any of her
// identifiers, no event of hers was inserted again (each was dropped and
// counted), and system.mutations names none of them.
func TestErasureErases(t *testing.T) {
	const secret, erasureSecret = "erasure-link-secret-0123", "erasure-tombstone-secret-0123"
	s := newStack(t, 2)
	ops := freeAddr(t)
	s.startProcessor(t, "-flush-interval", "100ms", "-segments-interval", "0", "-refresh-interval", "500ms",
		"-processor-ops-listen", ops, "-erasure-secret", erasureSecret)
	shopKey := s.site(t, "shop")
	_, base := s.startCollector(t, func(c *app.Config) {
		c.LinkSecret = secret
	})
	signer, _ := links.NewSigner(secret)
	mux := http.NewServeMux()
	srv := api.New(stacktest.Reader(t, s.store), s.store, api.Config{Token: "tok", Rules: profiles.DefaultRules, Links: signer, CollectorURL: base})
	srv.SetErasureSecret(erasureSecret)
	srv.Register(mux)
	dash := httptest.NewServer(mux)
	defer dash.Close()
	call := func(method, path, body string, into any, header ...string) int {
		t.Helper()
		code, resp := send(t, method, dash.URL+path, body, append([]string{"Authorization", "Bearer tok"}, header...)...)
		if into != nil {
			if err := json.Unmarshal([]byte(resp), into); err != nil {
				t.Fatalf("%s %s: %d %s", method, path, code, resp)
			}
		}
		return code
	}
	hit := func(method, path, body string, header ...string) {
		t.Helper()
		if code, resp := send(t, method, base+path, body, header...); code != 200 && code != 202 {
			t.Fatalf("%s %s: %d %s", method, path, code, resp)
		}
	}
	server := []string{"Authorization", "Bearer " + shopKey}

	// The newsletter: Ann (as her list spells her) and Bob, imported with
	// their consent.
	var c campaigns.Campaign
	if code := call("POST", "/api/v1/campaigns", `{"site":"shop","name":"Winter"}`, &c); code != 201 {
		t.Fatalf("campaign: %d", code)
	}
	var added struct{ Added int }
	list := "email,external_id\nAnn.Smith@Mail.example,crm-ann-7\nbob@mail.example,crm-bob-9\n"
	if call("POST", "/api/v1/campaigns/winter/recipients?site=shop&consent_wording=nl-v1", list, &added, "Content-Type", "text/csv"); added.Added != 2 {
		t.Fatalf("import: %+v", added)
	}
	var raw []map[string]string
	call("GET", "/api/v1/campaigns/winter/recipients?site=shop", "", &raw)
	tok := map[string]string{}
	for _, r := range raw {
		tok[r["email"]] = r["token"]
	}
	annTok := tok["ann.smith@mail.example"]
	if annTok == "" || tok["bob@mail.example"] == "" {
		t.Fatalf("recipients %v", raw)
	}
	rewrite := "<a href=\"https://shop.example/winter\">Sale</a>"
	_, html := send(t, "POST", dash.URL+"/api/v1/campaigns/winter/rewrite?site=shop", rewrite, "Authorization", "Bearer tok")
	m := regexp.MustCompile(`href="([^"]+/c/[^"]+)"`).FindStringSubmatch(html)
	if m == nil {
		t.Fatalf("rewrite: %s", html)
	}
	clickURL := strings.ReplaceAll(links.Personalize(m[1], annTok), "&amp;", "&")

	// Ann's first browser, the snippet: page views, a product, a cart, a
	// subscribe, her consent, then an identify with her shop account.
	beacon := func(items ...string) {
		hit("POST", "/e", "["+strings.Join(items, ",")+"]", "Content-Type", "text/plain")
	}
	const ann1 = `"site":"shop","visitor_id":"ann-browser-one","session_id":"ann-session-one"`
	beacon(`{`+ann1+`,"type":"pageview","url":"https://shop.example/shoes/trail"}`,
		`{`+ann1+`,"type":"product_view","name":"Trail Runner","url":"https://shop.example/p/tr","props":{"id":"TR-42","category":"shoes"}}`,
		`{`+ann1+`,"type":"add_to_cart","props":{"id":"TR-42"}}`,
		`{`+ann1+`,"type":"subscribe","user_id":"Ann.Smith@Mail.example","props":{"lists":"news"}}`,
		`{`+ann1+`,"type":"consent","props":{"analytics":"true","marketing":"false"}}`,
		`{`+ann1+`,"type":"identify","user_id":"cust-ann-42"}`)
	// Her second browser, the pixel: she signs in.
	px := url.Values{"site": {"shop"}, "type": {"sign_up"}, "visitor_id": {"ann-browser-two"}, "user_id": {"ann.smith@mail.example"},
		"url": {"https://shop.example/account"}}
	hit("GET", "/p.gif?"+px.Encode(), "")
	// The shop's backend: an order with her account id only, one with her
	// first browser's id.
	hit("POST", "/api/v1/events", `{"type":"purchase","user_id":"cust-ann-42","order_id":"ANN-ORDER-1","revenue":"89.90","currency":"EUR"}`, server...)
	hit("POST", "/api/v1/events", `{"type":"purchase","visitor_id":"ann-browser-one","order_id":"ANN-ORDER-2","revenue":"10","currency":"EUR"}`, server...)
	// The newsletter: she opens it, clicks, and lands in a third browser.
	hit("GET", "/o/"+annTok+".gif", "")
	code, loc := followOnce(t, clickURL)
	if code != 302 || !strings.Contains(loc, "ff_rt="+annTok) {
		t.Fatalf("click: %d %s", code, loc)
	}
	landing := url.Values{"site": {"shop"}, "visitor_id": {"ann-browser-three"}, "session_id": {"ann-session-three"}, "url": {loc}}
	hit("GET", "/p.gif?"+landing.Encode(), "")
	// Bob, who stays.
	beacon(`{"site":"shop","visitor_id":"bob-browser","session_id":"bob-session","type":"pageview","url":"https://shop.example/"}`,
		`{"site":"shop","visitor_id":"bob-browser","type":"identify","user_id":"bob@mail.example"}`)
	hit("POST", "/api/v1/events", `{"type":"purchase","visitor_id":"bob-browser","order_id":"BOB-ORDER-1","revenue":"5","currency":"EUR"}`, server...)
	hit("GET", "/o/"+tok["bob@mail.example"]+".gif", "")

	// Ann: 6 + 1 + 2 + open, click, landing; her import's send and
	// subscribe. Bob: 3 + open; his send and subscribe.
	stacktest.WaitCount(t, s.store, 30*time.Second, 20, "SELECT count() FROM events")
	stacktest.WaitCount(t, s.store, 30*time.Second, 1, "SELECT count() FROM identities WHERE visitor_id = 'ann-browser-three'")
	if code := call("POST", "/api/v1/profile/manual?site=shop&email=ann.smith@mail.example", `{"populations":["pro"]}`, nil); code != 200 {
		t.Fatalf("manual: %d", code)
	}
	waitFor(t, 20*time.Second, "people rows of Ann and Bob", func() bool {
		return stacktest.Count(t, s.store, "SELECT count() FROM people FINAL WHERE deleted = 0 AND person_key IN ('ann.smith@mail.example', 'bob@mail.example')") == 2
	})

	// What the export names is what the erasure will erase.
	var x profiles.Export
	if code := call("POST", "/api/v1/profile/export", `{"site":"shop","email":"ANN.SMITH@mail.example"}`, &x); code != 200 {
		t.Fatalf("export: %d", code)
	}
	want := profiles.Identifiers{
		UserIDs:  []string{"ann.smith@mail.example", "crm-ann-7", "cust-ann-42"},
		Visitors: []string{"ann-browser-one", "ann-browser-three", "ann-browser-two", "u:ann.smith@mail.example", "u:cust-ann-42"},
		Sessions: []string{"ann-session-one", "ann-session-three"},
		Tokens:   []string{annTok},
		Orders:   []string{"ANN-ORDER-1", "ANN-ORDER-2"},
	}
	if fmt.Sprint(x.Identifiers) != fmt.Sprint(want) {
		t.Errorf("exported identifiers\n%+v\nwant\n%+v", x.Identifiers, want)
	}
	if len(x.Recipients) != 1 || x.Recipients[0].Token != annTok || x.Recipients[0].ExternalID != "crm-ann-7" ||
		len(x.Events) != 14 || x.Rows["events"] != 14 || x.Rows["recipients"] != 1 || x.Rows["profile_overrides"] == 0 {
		t.Errorf("export: recipients %+v, %d events, rows %v", x.Recipients, len(x.Events), x.Rows)
	}
	var ids []string
	for _, l := range [][]string{want.UserIDs, want.Visitors, want.Sessions, want.Tokens, want.Orders} {
		ids = append(ids, l...)
	}
	before := traces(t, s, ids)
	for _, table := range []string{"events", "recipients", "people", "identities", "visitor_profiles", "consents", "session_parts",
		"profile_overrides", "viewed_products"} {
		if before[table] == 0 {
			t.Errorf("before the erasure no row of %s names Ann (%v): the check below would prove nothing", table, before)
		}
	}
	// The Kafka records that brought her, as a replay would read them.
	records := readTopic(t, s)

	var er profiles.Erasure
	began := time.Now()
	if code := call("DELETE", "/api/v1/profile", `{"site":"shop","email":"ann.smith@mail.example"}`, &er); code != 200 {
		t.Fatalf("erase: %d %+v", code, er)
	}
	t.Logf("erased in %v: %v", time.Since(began).Round(time.Millisecond), er.Rows)
	if fmt.Sprint(er.Identifiers) != fmt.Sprint(x.Identifiers) {
		t.Errorf("erased identifiers\n%+v\nexported\n%+v", er.Identifiers, x.Identifiers)
	}
	var exported []string
	for table := range x.Rows {
		exported = append(exported, table)
	}
	sort.Strings(exported)
	if !slices.Equal(er.Tables, exported) {
		t.Errorf("erased tables %v, exported %v", er.Tables, exported)
	}
	if after := traces(t, s, ids); len(after) != 0 {
		t.Errorf("after the erasure, rows naming Ann: %v", after)
	}

	// Everything comes back: the topic replayed (a reset consumer, a
	// collector's spool), her old newsletter's pixel and link and the
	// landing it leads to, her first browser, an import of her again.
	// A replayed event is dropped as erased, or earlier as a copy of one
	// the processor read already (its memory of ids, or ClickHouse):
	// either way not inserted again. Bob's replayed events are copies.
	erasedDrops := func() float64 { return opsMetric(t, ops, "processor_events_erased_dropped_total") }
	dropped := func() float64 {
		return erasedDrops() + opsMetric(t, ops, `processor_events_duplicate_dropped_total{found="memory"}`) +
			opsMetric(t, ops, `processor_events_duplicate_dropped_total{found="clickhouse"}`)
	}
	dropsBefore, erasedBefore := dropped(), erasedDrops()
	annInTopic, inTopic := 0, 0
	for _, r := range records {
		annInTopic += countAnn(r.Value, want)
		inTopic += countEvents(r.Value)
	}
	stacktest.Produce(t, s.brokers, s.topic, &kafka.Hash{}, records...)
	hit("GET", "/o/"+annTok+".gif", "")
	if code, loc := followOnce(t, clickURL); code != 302 || !strings.Contains(loc, "ff_rt="+annTok) {
		t.Fatalf("old click: %d %s", code, loc) // the reader still gets where the link leads
	}
	hit("GET", "/p.gif?"+landing.Encode(), "")
	beacon(`{` + ann1 + `,"type":"pageview","url":"https://shop.example/again"}`)
	var res struct {
		Added    int
		Rejected []imports.Rejected
	}
	if call("POST", "/api/v1/campaigns/winter/recipients?site=shop", "email\nann.smith@mail.example\ncarol@mail.example\n", &res, "Content-Type", "text/csv"); res.Added != 1 ||
		len(res.Rejected) != 1 || res.Rejected[0].Reason != imports.ReasonErased {
		t.Errorf("import of Ann again: %+v", res)
	}
	wantDrops := float64(inTopic + 4) // + open, click, landing, browser
	// Until they are all dropped, or inserted again: the check below says.
	for deadline := time.Now().Add(30 * time.Second); dropped()-dropsBefore < wantDrops && time.Now().Before(deadline); {
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // anything else in flight lands
	if d := dropped() - dropsBefore; d != wantDrops {
		t.Errorf("dropped %v events, want %v", d, wantDrops)
	}
	// Her new events (the old links' open, click and landing, her first
	// browser) are read for the first time: only a tombstone drops them.
	if d := erasedDrops() - erasedBefore; d < 4 {
		t.Errorf("dropped %v events as erased, want 4 or more", d)
	}
	t.Logf("replayed %d Kafka records holding %d events, %d of Ann: %v dropped, %v as erased", len(records), inTopic, annInTopic, dropped()-dropsBefore, erasedDrops()-erasedBefore)
	if after := traces(t, s, ids); len(after) != 0 {
		t.Errorf("after the replay, rows naming Ann: %v", after)
	}
	if n := stacktest.Count(t, s.store, "SELECT count() FROM events WHERE visitor_id = 'bob-browser'"); n < 3 {
		t.Errorf("Bob's events: %d", n)
	}
	if n := stacktest.Count(t, s.store, "SELECT count() FROM recipients WHERE email IN ('bob@mail.example', 'carol@mail.example')"); n != 2 {
		t.Errorf("Bob's and Carol's recipients: %d", n)
	}
	if n := stacktest.Count(t, s.store, "SELECT count() FROM events_rejected"); n != 0 {
		t.Errorf("%d messages rejected: an old link's events must be dropped, not kept", n)
	}
	// The erasure's own traces: its mutations name no identifier.
	var named []string
	for _, id := range ids {
		if stacktest.Count(t, s.store, "SELECT count() FROM system.mutations WHERE database = currentDatabase() AND positionCaseInsensitive(command, ?) > 0", id) > 0 {
			named = append(named, id)
		}
	}
	if n := stacktest.Count(t, s.store, "SELECT count() FROM system.mutations WHERE database = currentDatabase()"); n == 0 || len(named) > 0 {
		t.Errorf("%d mutations; identifiers in their text: %v", n, named)
	}
	// One per identifier: user ids (here all in event.FoldUser's form
	// already), visitor, session and order ids, tokens.
	if n := stacktest.Count(t, s.store, "SELECT count() FROM erasures WHERE site_id = 'shop'"); n != uint64(len(want.UserIDs)+len(want.Visitors)+len(want.Sessions)+len(want.Orders)+len(want.Tokens)) {
		t.Errorf("%d tombstones", n)
	}
}

// traces counts, per table of the test's database, the rows whose text
// holds any of ids: every String column, every Array(String), and every
// aggregate state of text (an argMin of user ids, an any of visitor ids)
// read back finalized. A table added later is covered as it is.
func traces(t *testing.T, s *stack, ids []string) map[string]uint64 {
	t.Helper()
	ctx := context.Background()
	rows, err := s.store.DB().Driver().Query(ctx, `SELECT table, name, type FROM system.columns
WHERE database = currentDatabase() AND (type LIKE '%String%')
AND table IN (SELECT name FROM system.tables WHERE database = currentDatabase() AND engine NOT LIKE '%View')`)
	if err != nil {
		t.Fatal(err)
	}
	type col struct{ table, name, typ string }
	var cols []col
	for rows.Next() {
		var c col
		if err := rows.Scan(&c.table, &c.name, &c.typ); err != nil {
			t.Fatal(err)
		}
		cols = append(cols, c)
	}
	rows.Close()
	if len(cols) < 20 {
		t.Fatalf("%d text columns: the scan reads the wrong database", len(cols))
	}
	out := map[string]uint64{}
	for _, c := range cols {
		text := c.name
		switch {
		case strings.HasPrefix(c.typ, "AggregateFunction("):
			if !regexp.MustCompile(`^AggregateFunction\((any|anyLast|argMin|argMax|groupArray|groupUniqArray)`).MatchString(c.typ) {
				continue // uniq, count...: numbers and hashes
			}
			text = "toString(finalizeAggregation(" + c.name + "))"
		case strings.HasPrefix(c.typ, "Array("):
			text = "arrayStringConcat(" + c.name + ", ' ')"
		}
		var or []string
		for _, id := range ids {
			or = append(or, fmt.Sprintf("positionCaseInsensitive(%s, '%s') > 0", text, id))
		}
		n := stacktest.Count(t, s.store, "SELECT count() FROM "+c.table+" WHERE "+strings.Join(or, " OR "))
		if n > 0 {
			t.Logf("%s.%s: %d rows", c.table, c.name, n)
			out[c.table] += n
		}
	}
	return out
}

// readTopic reads every record of the test's topic, as a consumer that
// starts over would.
func readTopic(t *testing.T, s *stack) []kafka.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := kafka.DialContext(ctx, "tcp", s.brokers[0])
	if err != nil {
		t.Fatal(err)
	}
	parts, err := conn.ReadPartitions(s.topic)
	conn.Close()
	if err != nil {
		t.Fatal(err)
	}
	var out []kafka.Message
	for _, p := range parts {
		pc, err := kafka.DialLeader(ctx, "tcp", s.brokers[0], s.topic, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		last, err := pc.ReadLastOffset()
		if err != nil {
			t.Fatal(err)
		}
		pc.Seek(0, kafka.SeekAbsolute)
		for off := int64(0); off < last; off++ {
			m, err := pc.ReadMessage(1 << 20)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, kafka.Message{Key: m.Key, Value: m.Value})
		}
		pc.Close()
	}
	if len(out) == 0 {
		t.Fatal("the topic is empty")
	}
	return out
}

// countAnn counts the events of a Kafka record that are Ann's: what the
// processor must drop when it reads the record again.
// countEvents is how many events a Kafka record holds (one, or a pack's).
func countEvents(value []byte) int {
	if !event.IsPack(value) {
		return 1
	}
	n := 0
	event.Unpack(value, func([]byte) { n++ })
	return n
}

func countAnn(value []byte, ann profiles.Identifiers) int {
	n := 0
	each := func(enc []byte) {
		var e event.Event
		if event.Decode(enc, &e) != nil {
			return
		}
		v, u := string(e.F[event.VisitorID]), event.NormalizeUser(string(e.F[event.UserID]))
		if v == "" && u != "" {
			v = event.UserVisitorPrefix + u
		}
		hit := slices.Contains(ann.Visitors, v) || slices.Contains(ann.UserIDs, u)
		for _, p := range e.Props {
			hit = hit || string(p.Key) == "token" && slices.Contains(ann.Tokens, string(p.Value))
		}
		for _, tk := range ann.Tokens {
			hit = hit || strings.Contains(string(e.F[event.URL]), "ff_rt="+tk)
		}
		if hit {
			n++
		}
	}
	if !event.IsPack(value) {
		each(value)
		return n
	}
	event.Unpack(value, each)
	return n
}

func followOnce(t *testing.T, u string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Location")
}

// freeAddr is a loopback address nothing listens on, for a program
// started as a separate process.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// opsMetric reads one sample from a program's /metrics.
func opsMetric(t *testing.T, addr, sample string) float64 {
	t.Helper()
	_, body := send(t, "GET", "http://"+addr+"/metrics", "")
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, sample+" ") {
			var v float64
			fmt.Sscan(strings.TrimPrefix(line, sample+" "), &v)
			return v
		}
	}
	return 0
}

func waitFor(t *testing.T, timeout time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s after %v", what, timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
