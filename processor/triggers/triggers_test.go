package triggers_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"footfall/internal/event"
	"footfall/internal/kafkaadmin"
	"footfall/internal/profiles"
	"footfall/internal/segments"
	"footfall/processor/triggers"
	"footfall/tests/stacktest"
)

// TestFirstOrderTriggers: a subscriber's first order, seen by a round of
// evaluation, reaches the Kafka topic and a webhook that failed once, with
// a valid signature.
func TestFirstOrderTriggers(t *testing.T) {
	brokers := stacktest.Brokers(t)
	_, store := stacktest.ClickHouse(t)
	topic := stacktest.Topic(t, brokers, 1)
	secret := "hook-secret"

	var mu sync.Mutex
	var posts [][]byte
	tries := 0
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		tries++
		if tries == 1 {
			http.Error(w, "not now", http.StatusServiceUnavailable)
			return
		}
		if r.Header.Get(triggers.SignatureHeader) != triggers.Sign([]byte(secret), r.Header.Get(triggers.TimestampHeader), body) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			t.Errorf("bad signature %q", r.Header.Get(triggers.SignatureHeader))
			return
		}
		posts = append(posts, body)
	}))
	defer hook.Close()

	ctx := context.Background()
	n, err := triggers.New(ctx, triggers.Config{Topic: topic, Webhooks: hook.URL, Secret: secret, Attempts: 3, Backoff: 10 * time.Millisecond}, events(brokers))
	if err != nil {
		t.Fatal(err)
	}
	segs := segments.NewStore(profiles.NewStore(store.DB(), profiles.DefaultRules))
	hit := func(typ string, f map[event.Field]string) {
		fields := map[event.Field]string{event.Site: "shop", event.Type: typ, event.VisitorID: "v1"}
		for k, v := range f {
			fields[k] = v
		}
		h := stacktest.Hit{At: time.Now(), Fields: fields, Revenue: 10_000_000}
		if typ == "subscribe" {
			h.Ingest = event.IngestAPI // the shop's backend: proven, it joins ann
		}
		stacktest.Insert(t, store, h)
	}
	hit("subscribe", map[event.Field]string{event.UserID: "ann@x"})
	n.Round(ctx, segs) // the first round records everyone without triggers
	hit("purchase", map[event.Field]string{event.OrderID: "o1"})
	n.Round(ctx, segs)
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := n.Close(cctx); err != nil {
		t.Fatal(err)
	}

	want := []string{"class:customer ann@x true", "class:subscriber ann@x false"}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	var fromKafka []string
	for len(fromKafka) < len(want) {
		m, err := r.ReadMessage(cctx)
		if err != nil {
			t.Fatalf("read triggers topic after %v: %v", fromKafka, err)
		}
		var c segments.Change
		if err := json.Unmarshal(m.Value, &c); err != nil {
			t.Fatal(err)
		}
		if string(m.Key) != "shop/ann@x" || c.Email != "ann@x" {
			t.Errorf("message key %q, change %+v", m.Key, c)
		}
		fromKafka = append(fromKafka, describe(c))
	}
	sort.Strings(fromKafka)
	if !slices.Equal(fromKafka, want) {
		t.Errorf("kafka: %v, want %v", fromKafka, want)
	}

	mu.Lock()
	defer mu.Unlock()
	var fromHook []string
	for _, p := range posts {
		var body struct{ Changes []segments.Change }
		if err := json.Unmarshal(p, &body); err != nil {
			t.Fatal(err)
		}
		for _, c := range body.Changes {
			fromHook = append(fromHook, describe(c))
		}
	}
	sort.Strings(fromHook)
	if !slices.Equal(fromHook, want) || tries != len(posts)+1 {
		t.Errorf("webhook: %v after %d tries, want %v after one refused try", fromHook, tries, want)
	}
}

func describe(c segments.Change) string {
	in := "false"
	if c.Entered {
		in = "true"
	}
	return c.Segment + " " + c.PersonKey + " " + in
}

func TestWebhookNeedsSecret(t *testing.T) {
	brokers := stacktest.Brokers(t)
	_, err := triggers.New(context.Background(), triggers.Config{Topic: stacktest.Topic(t, brokers, 1), Webhooks: "http://127.0.0.1:1/"}, events(brokers))
	if err == nil {
		t.Fatal("webhooks without a secret accepted")
	}
}

// events is the events topic's configuration the triggers topic follows:
// the local stack's one broker.
func events(brokers []string) kafkaadmin.TopicConfig {
	return kafkaadmin.TopicConfig{Brokers: strings.Join(brokers, ","), Replication: 1}
}
