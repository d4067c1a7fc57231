// Package triggers evaluates segments and lifecycle classes on a timer and
// tells the outside world who entered or left one: each change is produced
// to a Kafka topic and, when configured, posted to webhooks signed with
// HMAC-SHA256 and retried with backoff, so that an e-mail tool can send
// the welcome, follow-up or reactivation mail by itself.
package triggers

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/segmentio/kafka-go"

	"footfall/internal/kafkaadmin"
	"footfall/internal/segments"
)

// Config configures the evaluation loop and where changes go.
type Config struct {
	Interval time.Duration
	Topic    string
	// Partitions of the topic when it has to be created; its replication
	// and min.insync.replicas are the events topic's.
	Partitions int
	// Retention is how long the topic keeps changes: they name people
	// (person_key, email), which an erasure cannot reach inside Kafka.
	Retention time.Duration
	Webhooks  string // comma-separated URLs
	Secret    string
	Attempts  int
	Backoff   time.Duration
}

// RegisterFlags declares Config's flags on fs.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.DurationVar(&c.Interval, "segments-interval", time.Minute, "how often segments and classes are evaluated for triggers; 0 turns triggers off")
	fs.StringVar(&c.Topic, "triggers-topic", "footfall-triggers", "Kafka topic that receives segment and class changes")
	fs.IntVar(&c.Partitions, "triggers-partitions", 1, "partitions of the triggers topic when it has to be created (its replication and min.insync.replicas are -kafka-replication's and -kafka-min-insync-replicas')")
	fs.DurationVar(&c.Retention, "triggers-retention", kafkaadmin.DefaultRetention, "how long the triggers topic keeps changes (set on every start, as -kafka-retention); its consumers must read them within it; 0 leaves the topic's setting")
	fs.StringVar(&c.Webhooks, "webhook-urls", "", "comma-separated URLs that receive segment and class changes as signed JSON POSTs")
	fs.StringVar(&c.Secret, "webhook-secret", "", "HMAC-SHA256 key of the X-Footfall-Signature header of webhook posts")
	fs.IntVar(&c.Attempts, "webhook-attempts", 8, "tries per webhook post before it is given up (and counted)")
	fs.DurationVar(&c.Backoff, "webhook-backoff", time.Second, "wait before the first retry of a webhook post; doubles each time, up to a minute")
}

var (
	changesTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "triggers_changes_total",
		Help: "People who entered or left a segment or class, by direction.",
	}, []string{"direction"})
	webhookPosts = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "triggers_webhook_posts_total",
		Help: "Webhook posts by outcome: ok, retried (one failed try), failed (given up).",
	}, []string{"outcome"})
	evalErrors = promauto.NewCounter(prometheus.CounterOpts{
		Name: "triggers_evaluation_errors_total",
		Help: "Evaluation rounds of a site that failed (they are repeated next round).",
	})
	evalSeconds = promauto.NewHistogram(prometheus.HistogramOpts{
		Name:    "triggers_evaluation_seconds",
		Help:    "Time to evaluate every segment and class of every site once.",
		Buckets: prometheus.ExponentialBuckets(0.01, 2, 14),
	})
)

// Notifier passes changes on.
type Notifier struct {
	cfg    Config
	writer *kafka.Writer
	hooks  []string
	client *http.Client
	queue  chan []byte
	wg     sync.WaitGroup
}

// SignatureHeader carries "sha256=" and the hex HMAC-SHA256 of the
// timestamp header's value, a dot, and the body.
const (
	SignatureHeader = "X-Footfall-Signature"
	TimestampHeader = "X-Footfall-Timestamp"
)

// New returns a Notifier producing to cfg.Topic on the brokers of events
// (created if missing, replicated as the events topic) and posting to
// cfg.Webhooks.
func New(ctx context.Context, cfg Config, events kafkaadmin.TopicConfig) (*Notifier, error) {
	brokers := events.BrokerList()
	spec := events.Spec()
	spec.Partitions, spec.Retention = max(cfg.Partitions, 1), cfg.Retention
	if err := kafkaadmin.Ensure(ctx, brokers, cfg.Topic, spec); err != nil {
		return nil, fmt.Errorf("prepare triggers topic %s: %w", cfg.Topic, err)
	}
	n := &Notifier{
		cfg: cfg,
		writer: &kafka.Writer{
			Addr: kafka.TCP(brokers...), Topic: cfg.Topic, Balancer: &kafka.Hash{},
			RequiredAcks: kafka.RequireAll, BatchTimeout: 10 * time.Millisecond,
			Transport: &kafka.Transport{},
		},
		client: &http.Client{Timeout: 10 * time.Second},
		queue:  make(chan []byte, 1024),
	}
	for _, u := range strings.Split(cfg.Webhooks, ",") {
		if u = strings.TrimSpace(u); u != "" {
			n.hooks = append(n.hooks, u)
		}
	}
	if len(n.hooks) > 0 && cfg.Secret == "" {
		return nil, errors.New("-webhook-urls needs -webhook-secret: receivers must be able to check the signature")
	}
	if cfg.Attempts < 1 {
		n.cfg.Attempts = 1
	}
	n.wg.Add(1)
	go n.deliver()
	return n, nil
}

// Notify produces changes to Kafka (returning once the broker has them)
// and queues them for the webhooks.
func (n *Notifier) Notify(ctx context.Context, changes []segments.Change) error {
	msgs := make([]kafka.Message, len(changes))
	for i, c := range changes {
		body, err := json.Marshal(c)
		if err != nil {
			return fmt.Errorf("encode change: %w", err)
		}
		msgs[i] = kafka.Message{Key: []byte(c.Site + "/" + c.PersonKey), Value: body}
		dir := "left"
		if c.Entered {
			dir = "entered"
		}
		changesTotal.WithLabelValues(dir).Inc()
	}
	if err := n.writer.WriteMessages(ctx, msgs...); err != nil {
		return fmt.Errorf("produce %d changes to %s: %w", len(msgs), n.cfg.Topic, err)
	}
	if len(n.hooks) == 0 {
		return nil
	}
	// One post per 100 changes keeps bodies small for the receiver.
	for start := 0; start < len(changes); start += 100 {
		body, err := json.Marshal(struct {
			Changes []segments.Change `json:"changes"`
		}{changes[start:min(start+100, len(changes))]})
		if err != nil {
			return fmt.Errorf("encode webhook body: %w", err)
		}
		select {
		case n.queue <- body:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Sign returns the signature header value of a body sent at ts.
func Sign(secret []byte, ts string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

func (n *Notifier) deliver() {
	defer n.wg.Done()
	for body := range n.queue {
		for _, url := range n.hooks {
			n.post(url, body)
		}
	}
}

// post tries one webhook until it answers 2xx, a 4xx other than 408 and
// 429 (the receiver refuses it: retrying cannot help), or the attempts run
// out.
func (n *Notifier) post(url string, body []byte) {
	wait := n.cfg.Backoff
	for attempt := 1; ; attempt++ {
		status, err := n.try(url, body)
		if err == nil && status/100 == 2 {
			webhookPosts.WithLabelValues("ok").Inc()
			return
		}
		final := attempt >= n.cfg.Attempts || (err == nil && status/100 == 4 && status != 408 && status != 429)
		if final {
			webhookPosts.WithLabelValues("failed").Inc()
			slog.Error("webhook post given up", "url", url, "attempts", attempt, "status", status, "err", err)
			return
		}
		webhookPosts.WithLabelValues("retried").Inc()
		time.Sleep(wait)
		wait = min(2*wait, time.Minute)
	}
}

func (n *Notifier) try(url string, body []byte) (int, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(TimestampHeader, ts)
	req.Header.Set(SignatureHeader, Sign([]byte(n.cfg.Secret), ts, body))
	resp, err := n.client.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// Run evaluates every site's segments each Interval until ctx ends.
func (n *Notifier) Run(ctx context.Context, store *segments.Store) {
	t := time.NewTicker(n.cfg.Interval)
	defer t.Stop()
	for {
		n.Round(ctx, store)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Round evaluates every site once; a site that fails is logged, counted
// and tried again next round (its changes are not lost: they were not
// committed).
func (n *Notifier) Round(ctx context.Context, store *segments.Store) {
	start := time.Now()
	defer func() { evalSeconds.Observe(time.Since(start).Seconds()) }()
	sites, err := store.Sites(ctx)
	if err != nil {
		evalErrors.Inc()
		slog.Error("segments evaluation", "err", err)
		return
	}
	for _, site := range sites {
		err := store.EvaluateSite(ctx, site, func(c []segments.Change) error { return n.Notify(ctx, c) })
		if err != nil && ctx.Err() == nil {
			evalErrors.Inc()
			slog.Error("segments evaluation", "site", site, "err", err)
		}
	}
}

// Close stops taking changes and waits up to ctx for queued webhook posts.
func (n *Notifier) Close(ctx context.Context) error {
	close(n.queue)
	done := make(chan struct{})
	go func() { n.wg.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("webhook posts still queued at shutdown: %w", ctx.Err())
	}
	if werr := n.writer.Close(); werr != nil && err == nil {
		err = fmt.Errorf("close triggers producer: %w", werr)
	}
	return err
}
