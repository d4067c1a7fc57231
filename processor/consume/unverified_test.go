package consume

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"

	"footfall/internal/campaigns"
	"footfall/internal/erasure"
	"footfall/internal/event"
	"footfall/internal/links"
	"footfall/processor/chstore"
	"footfall/processor/imports"
	"footfall/tests/stacktest"
)

// emailEvent is a newsletter event as the collector queues it: no site,
// the token as a prop, marked unverified when the collector could not
// verify the token.
func emailEvent(typ, tok string, unverified bool) []byte {
	now := time.Now().UnixMilli()
	e := event.Event{ID: event.NewID(now), TimeMs: now, Ingest: event.IngestEmail}
	e.F[event.Type] = []byte(typ)
	e.F[event.UserAgent] = []byte(ua)
	e.F[event.IP] = []byte("203.0.113.0")
	e.Props = append(e.Props, event.Prop{Key: []byte("token"), Value: []byte(tok)})
	if typ == "email_click" {
		e.F[event.URL] = []byte("https://shop.example/sale")
		e.Props = append(e.Props, event.Prop{Key: []byte("link"), Value: []byte("abc")})
	}
	if unverified {
		e.Props = append(e.Props, event.Prop{Key: []byte(links.UnverifiedProp), Value: []byte("1")})
	}
	return event.Append(nil, &e)
}

// TestUnverifiedTokens: an open or click the collector could not verify
// (links.UnverifiedProp) is kept when a recipient has its token, a token
// an earlier version made and the import stored, and stored without the
// mark; with an unknown token it is dropped and counted, stored nowhere,
// not even in events_rejected, where an unknown token the collector
// verified still goes. An erased person's token is dropped as erased
// first, its recipient gone.
func TestUnverifiedTokens(t *testing.T) {
	const secret = "unverified-tokens-erasure-secret"
	brokers := stacktest.Brokers(t)
	topic := stacktest.Topic(t, brokers, 1) // one partition: stored in order
	_, store := stacktest.ClickHouse(t)
	ctx := context.Background()
	c, err := campaigns.NewStore(store.DB()).Save(ctx, campaigns.Campaign{Site: "shop", Name: "Before the upgrade", SentAt: time.Now().UTC()})
	if err != nil {
		t.Fatal(err)
	}
	// The importer as it was: random tokens, which no link secret signs.
	res, err := imports.NewImporter(store).Add(ctx, c, []campaigns.Recipient{{Email: "ann@x.example"}, {Email: "bob@x.example"}}, "")
	if err != nil || len(res.Added) != 2 {
		t.Fatalf("import: %v %+v", err, res)
	}
	tok := map[string]string{}
	for _, r := range res.Added {
		tok[r.Email] = r.Token
	}
	// Cat was erased: her tombstone stays, her recipient row is gone.
	erased := links.NewToken()
	if err := erasure.Write(ctx, store.DB(), erasure.NewHasher([]byte(secret)), "shop", map[erasure.Kind][]string{erasure.Token: {erased}}); err != nil {
		t.Fatal(err)
	}

	unknownBefore, erasedBefore, rejectedBefore := testutil.ToFloat64(droppedUnknownToken), testutil.ToFloat64(erasedDropped), testutil.ToFloat64(unknownTokens)
	var msgs []kafka.Message
	for _, v := range [][]byte{
		emailEvent("email_open", links.NewToken(), true),          // invented: dropped
		emailEvent("email_click", "AAAAAAAAAAAAAAAAAAAAAA", true), // invented: dropped
		emailEvent("email_open", erased, true),                    // erased: dropped as such
		emailEvent("email_open", links.NewToken(), false),         // verified, no recipient: events_rejected
		emailEvent("email_open", tok["ann@x.example"], true),      // legacy: kept
		emailEvent("email_click", tok["bob@x.example"], true),
	} {
		msgs = append(msgs, kafka.Message{Key: []byte("e"), Value: v})
	}
	write(t, brokers, topic, msgs)
	cons := New(Config{Brokers: brokers, Topic: topic, Group: stacktest.Name(t, "g"), FlushInterval: 100 * time.Millisecond, ErasureSecret: secret}, store)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- cons.Run(runCtx) }()
	stacktest.WaitCount(t, store, 30*time.Second, 2, "SELECT count() FROM events WHERE type IN ('email_open', 'email_click')")
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	got := rows2(t, store, "SELECT concat(type, ' ', site_id, ' ', user_id, ' ', proof), arrayStringConcat(prop_keys, ',') FROM events WHERE type IN ('email_open', 'email_click') ORDER BY type DESC")
	want := []string{"email_open shop ann@x.example link|token,open_kind", "email_click shop bob@x.example link|token,link"}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("stored %q, want %q", got, want)
	}
	if n := stacktest.Count(t, store, "SELECT count() FROM events_rejected"); n != 1 {
		t.Errorf("%d events rejected, want the verified token's 1", n)
	}
	if n := testutil.ToFloat64(droppedUnknownToken) - unknownBefore; n != 2 {
		t.Errorf("processor_events_dropped_total{reason=\"unknown_token\"} rose by %v, want 2", n)
	}
	if n := testutil.ToFloat64(erasedDropped) - erasedBefore; n != 1 {
		t.Errorf("erased token dropped %v times, want 1", n)
	}
	if n := testutil.ToFloat64(unknownTokens) - rejectedBefore; n != 1 {
		t.Errorf("unknown verified tokens counted %v times, want 1", n)
	}
}

// rows2 reads a query's two text columns, joined by "|".
func rows2(t *testing.T, store *chstore.Store, q string) []string {
	t.Helper()
	rs, err := store.DB().Driver().Query(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	var out []string
	for rs.Next() {
		var a, b string
		if err := rs.Scan(&a, &b); err != nil {
			t.Fatal(err)
		}
		out = append(out, a+"|"+b)
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
