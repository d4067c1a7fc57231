package profiles

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"footfall/internal/event"
	"footfall/processor/consume"
	"footfall/tests/stacktest"
)

// The forms a kept message may spell one identifier in, each found, and
// the near misses, none.
func TestKeptMessageForms(t *testing.T) {
	ann := &Identifiers{UserIDs: []string{"josé@café.example", "c42"}, Visitors: []string{"ann-browser-1"}}
	ns := needles(ann)
	found := func(payload []byte) bool {
		text := messageForm(payload)
		for _, n := range ns {
			if strings.Contains(text, n) {
				return true
			}
		}
		return false
	}
	for _, c := range annMessages() {
		if !found(c.payload) {
			t.Errorf("%s: not found in %q (%q)", c.name, c.payload, messageForm(c.payload))
		}
	}
	for _, c := range othersMessages() {
		if found(c.payload) {
			t.Errorf("%s: found in %q (%q)", c.name, c.payload, messageForm(c.payload))
		}
	}
}

type keptMessage struct {
	name    string
	payload []byte
}

// annMessages are messages about Ann (josé@café.example, account id c42,
// browser ann-browser-1) that the processor could not store.
func annMessages() []keptMessage {
	newer := event.Event{ID: event.NewID(1), TimeMs: 1}
	newer.F[event.Site] = []byte("shop")
	newer.F[event.UserID] = []byte("C42")
	newer.F[event.URL] = []byte("https://shop.example/" + strings.Repeat("a", 96)) // its length byte is 'a'
	binary := event.Append(nil, &newer)
	binary[0] = 9 // a wire version this processor does not know
	return []keptMessage{
		{"punycode domain", []byte(`{"type":"subscribe","user_id":"josé@xn--caf-dma.example"}`)},
		{"punycode domain in capitals", []byte(`{"type":"subscribe","user_id":"JOSÉ@XN--CAF-DMA.EXAMPLE"}`)},
		{"JSON escapes", []byte(`{"type":"subscribe","user_id":"jos\u00e9\u0040caf\u00E9.example"}`)},
		{"escaped slashes", []byte(`{"url":"https:\/\/shop.example\/?vid=ann-browser-1"}`)},
		{"non-ASCII capitals", []byte(`{"user_id":"JOSÉ@CAFÉ.EXAMPLE"}`)},
		{"decomposed accents", []byte("{\"user_id\":\"jose\u0301@cafe\u0301.example\"}")},
		{"percent-encoded", []byte(`/p.gif?site=shop&uid=jos%C3%A9%40caf%C3%A9.example`)},
		{"percent-encoded JSON escape", []byte(`/p.gif?site=shop&uid=jos%5Cu00e9%40caf%C3%A9.example`)},
		{"HTML reference", []byte(`<a href="mailto:jos&eacute;&#64;caf&#xe9;.example">`)},
		{"full-width", []byte(`{"user_id":"ｊｏｓé＠ｃａｆé．ｅｘａｍｐｌｅ"}`)},
		{"short account id", []byte(`{"type":"purchase","user_id":"C42","order_id":"9"}`)},
		{"short account id in a query", []byte(`uid=c42&type=purchase`)},
		{"short account id in an undecodable binary event", binary},
	}
}

// othersMessages are messages of other people that hold near misses.
func othersMessages() []keptMessage {
	return []keptMessage{
		{"another domain", []byte(`{"user_id":"josé@cafe.example"}`)},
		{"another address", []byte(`{"user_id":"bob@xn--caf-dma.example"}`)},
		{"a longer account id", []byte(`{"user_id":"c420","order_id":"xc42"}`)},
		{"an account id in a word", []byte(`{"name":"abc42def","url":"https://shop.example/c42x"}`)},
		{"another browser", []byte(`{"visitor_id":"ann-browser-2"}`)},
	}
}

// TestErasureOfKeptMessages: messages about Ann that the processor could
// not decode, kept in events_rejected through Kafka and the processor,
// are counted by her export and deleted by her erasure, whatever form
// they spell her identifiers in; the near misses of other people stay.
func TestErasureOfKeptMessages(t *testing.T) {
	brokers := stacktest.Brokers(t)
	topic := stacktest.Topic(t, brokers, 1)
	_, store := stacktest.ClickHouse(t)
	at := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	stacktest.Insert(t, store, stacktest.Hit{At: at, Ingest: event.IngestAPI, Fields: map[event.Field]string{
		event.Site: "shop", event.Type: "purchase", event.VisitorID: "ann-browser-1", event.UserID: "josé@café.example",
		event.OrderID: "A-1", event.URL: "https://shop.example/"}, Revenue: 1})
	stacktest.Insert(t, store, stacktest.Hit{At: at.Add(time.Minute), Ingest: event.IngestAPI, Fields: map[event.Field]string{
		event.Site: "shop", event.Type: "purchase", event.VisitorID: "ann-browser-1", event.UserID: "c42",
		event.OrderID: "A-2", event.URL: "https://shop.example/"}, Revenue: 1})

	var msgs []kafka.Message
	for _, m := range append(annMessages(), othersMessages()...) {
		msgs = append(msgs, kafka.Message{Key: []byte("k"), Value: m.payload})
	}
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: topic, BatchTimeout: time.Millisecond, Transport: &kafka.Transport{}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	w.Close()
	c := consume.New(consume.Config{Brokers: brokers, Topic: topic, Group: stacktest.Name(t, "g"), FlushInterval: 100 * time.Millisecond}, store)
	cctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- c.Run(cctx) }()
	stacktest.WaitCount(t, store, 30*time.Second, uint64(len(msgs)), "SELECT count() FROM events_rejected")
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	s := NewStore(store.DB(), DefaultRules)
	x, err := s.Export(ctx, "shop", Ref{UserID: "José@Café.example"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := x.Rows[rejectedTable], uint64(len(annMessages())); got != want {
		t.Errorf("the export counts %d kept messages of Ann, want %d", got, want)
	}
	e, err := s.Erase(ctx, "shop", Ref{UserID: "josé@café.example"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := e.Rows[rejectedTable], uint64(len(annMessages())); got != want {
		t.Errorf("the erasure deleted %d kept messages, want %d", got, want)
	}
	var left []string
	rows, err := store.DB().Driver().Query(ctx, "SELECT payload FROM events_rejected ORDER BY kafka_offset")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			t.Fatal(err)
		}
		left = append(left, p)
	}
	rows.Close()
	var want []string
	for _, m := range othersMessages() {
		want = append(want, string(m.payload))
	}
	if strings.Join(left, "\n") != strings.Join(want, "\n") {
		t.Errorf("kept messages after the erasure:\n%q\nwant only the others':\n%q", left, want)
	}
	if n := stacktest.Count(t, store, "SELECT count() FROM system.mutations WHERE database = currentDatabase() AND (position(command, 'c42') > 0 OR position(command, 'caf') > 0)"); n != 0 {
		t.Errorf("%d mutations name Ann", n)
	}
}

// BenchmarkMessageForm: what the search costs per kept message, an event
// of a wire version the processor does not know and a JSON text.
func BenchmarkMessageForm(b *testing.B) {
	e := event.Event{ID: event.NewID(1), TimeMs: 1}
	e.F[event.Site] = []byte("shop")
	e.F[event.Type] = []byte("pageview")
	e.F[event.VisitorID] = []byte("0c9a1f4e-2b7d-4a55-9e1c-3f2d8b6a7c10")
	e.F[event.URL] = []byte("https://shop.example/caf%C3%A9/cr%C3%A8me?utm_source=newsletter&utm_medium=email")
	e.F[event.Referrer] = []byte("https://www.google.com/")
	e.F[event.UserAgent] = []byte("Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0")
	newer := event.Append(nil, &e)
	newer[0] = 9
	decodable := event.Append(nil, &e)
	json := []byte(`{"site":"shop","type":"purchase","visitor_id":"0c9a1f4e-2b7d-4a55-9e1c-3f2d8b6a7c10","user_id":"Jos\u00e9@Caf\u00e9.example","url":"https:\/\/shop.example\/checkout\/done?order=A-1001","order_id":"A-1001","revenue":"129.90","currency":"EUR"}`)
	for _, c := range []struct {
		name string
		p    []byte
	}{{"undecodable binary", newer}, {"event", decodable}, {"JSON", json}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.p)))
			for range b.N {
				messageForm(c.p)
			}
		})
	}
}
