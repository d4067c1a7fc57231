// Package consume reads events from Kafka in a consumer group and writes
// them to ClickHouse in batches, committing offsets only after ClickHouse has
// taken the batch, and skipping events a previous owner of a partition had
// already written before it could commit.
package consume

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/segmentio/kafka-go"

	"footfall/internal/erasure"
	"footfall/internal/event"
	"footfall/internal/geoip"
	"footfall/processor/chstore"
	"footfall/processor/enrich"
	"footfall/processor/recipients"
)

// Config sets the consumer's group and batching.
type Config struct {
	Brokers       []string
	Topic         string
	Group         string
	BatchSize     int           // events per insert at most (default 50000)
	FlushInterval time.Duration // longest an event waits before its insert (default 500ms)
	// FlushTimeout bounds the final flush on shutdown (default 30s).
	FlushTimeout time.Duration
	// GeoIP, when set, gives each event its country.
	GeoIP *geoip.DB
	// Enrich is the operator's part of the enrichment (ignored referrers).
	Enrich enrich.Config
	// ErasureSecret keys the tombstones of erased people (see dropErased).
	ErasureSecret string

	// afterInsert, when set, runs after each insert and before the commit;
	// an error stops the consumer there, as a crash would. Tests only.
	afterInsert func() error
}

func (c *Config) defaults() {
	if c.BatchSize <= 0 {
		c.BatchSize = 50000
	}
	if c.FlushInterval <= 0 {
		c.FlushInterval = 500 * time.Millisecond
	}
	if c.FlushTimeout <= 0 {
		c.FlushTimeout = 30 * time.Second
	}
}

// Consumer is one member of the processor consumer group.
type Consumer struct {
	cfg    Config
	store  *chstore.Store
	r      *kafka.Reader
	en     *enrich.Enricher
	rcpt   *recipients.Resolver
	erased *erasure.Filter // made at the first batch
	rows   []chstore.Row
	rowMsg []int // partition of each row, for the redelivery check
	rej    []chstore.Rejected
	last   map[int]kafka.Message // highest message per partition in the batch

	// next is the offset this consumer expects next on each partition. A
	// message elsewhere means the partition was (re)assigned and may start
	// with events that were inserted but never committed.
	next     map[int]int64
	verified map[int]bool

	// Inserted counts the events this consumer wrote, for tests that check
	// partitions are shared.
	Inserted int64
}

// New joins the group; Run does the work.
func New(cfg Config, store *chstore.Store) *Consumer {
	cfg.defaults()
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: cfg.Brokers,
		GroupID: cfg.Group,
		Topic:   cfg.Topic,
		// A fetch waits for 16 KiB (or for MaxWait, below): with 1 byte, each
		// of a busy topic's partitions was fetched many times a second,
		// which cost the broker and this reader CPU per event; 4 KiB still
		// cost the broker more, and 64 KiB took a busy partition long
		// enough to fill that events reached ClickHouse later for no CPU
		// saved (docs/perf.md, "Kafka"). A quiet site's events wait up to
		// 0.75 s more.
		MinBytes: 16 << 10,
		MaxBytes: 16 << 20,
		// The broker answers a fetch as soon as it has MinBytes, so this
		// only bounds a fetch that finds too little. kafka-go asks the
		// broker to wait three quarters of it and fails the read at the
		// whole: at 100ms a busy machine's broker answered more than 25ms
		// late, and every such timeout cost a reconnection.
		MaxWait:        time.Second,
		CommitInterval: 0, // commit synchronously, after each insert
		StartOffset:    kafka.FirstOffset,
		// The batch is bounded by the flush interval, not by this queue:
		// a bigger queue only held more messages in memory.
		QueueCapacity: min(cfg.BatchSize, 10000),
		// Rebalances on join and leave are quick on a small group; a long
		// timeout only delays a restarted processor's start.
		RebalanceTimeout:  10 * time.Second,
		HeartbeatInterval: time.Second,
		SessionTimeout:    10 * time.Second,
		JoinGroupBackoff:  500 * time.Millisecond,
		ReadBackoffMin:    50 * time.Millisecond,
		ReadBackoffMax:    500 * time.Millisecond,
		ErrorLogger: kafka.LoggerFunc(func(msg string, args ...any) {
			slog.Warn("kafka reader: " + fmt.Sprintf(msg, args...))
		}),
	})
	return &Consumer{
		cfg: cfg, store: store, r: r, en: enricher(cfg.GeoIP, cfg.Enrich), rcpt: recipients.NewResolver(store.DB()),
		last: map[int]kafka.Message{}, next: map[int]int64{}, verified: map[int]bool{},
	}
}

func enricher(geo *geoip.DB, cfg enrich.Config) *enrich.Enricher {
	en := enrich.New(0)
	cfg.Apply(en)
	if geo != nil {
		en.UseGeoIP(geo)
	}
	return en
}

// Run consumes until ctx ends, then flushes what it holds, commits and
// leaves the group. It returns nil after a clean stop.
func (c *Consumer) Run(ctx context.Context) error {
	defer c.r.Close()
	for {
		deadline := time.Now().Add(c.cfg.FlushInterval)
		fctx, cancel := context.WithDeadline(ctx, deadline)
		err := c.fill(fctx)
		cancel()
		if ctx.Err() != nil {
			// Shutdown: the final flush gets its own time limit.
			sctx, cancel := context.WithTimeout(context.Background(), c.cfg.FlushTimeout)
			defer cancel()
			if err := c.flush(sctx); err != nil {
				return fmt.Errorf("final flush: %w", err)
			}
			slog.Info("consumer stopped", "inserted", c.Inserted)
			return nil
		}
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			slog.Warn("kafka fetch failed", "err", err)
			fetchErrors.Inc()
		}
		if err := c.flush(ctx); err != nil {
			if ctx.Err() != nil {
				continue // the loop's shutdown branch retries once more
			}
			return err
		}
	}
}

// fill fetches messages until the batch is full or ctx ends.
func (c *Consumer) fill(ctx context.Context) error {
	for len(c.rows)+len(c.rej) < c.cfg.BatchSize {
		m, err := c.r.FetchMessage(ctx)
		if err != nil {
			return err
		}
		c.add(m)
	}
	return nil
}

func (c *Consumer) add(m kafka.Message) {
	if exp, ok := c.next[m.Partition]; !ok || exp != m.Offset {
		c.verified[m.Partition] = false
		// Another consumer may have written this partition's visitors'
		// events meanwhile: what the store remembers of them may be
		// behind, and it reads them again. (BenchmarkProcessBatch has no
		// store.)
		if c.store != nil {
			c.store.ForgetVisitors()
		}
	}
	c.next[m.Partition] = m.Offset + 1
	if prev, ok := c.last[m.Partition]; !ok || m.Offset > prev.Offset {
		c.last[m.Partition] = m
	}
	if !event.IsPack(m.Value) {
		c.addEvent(m, m.Value)
		return
	}
	if unread, err := event.Unpack(m.Value, func(enc []byte) { c.addEvent(m, enc) }); err != nil {
		c.reject(m, unread, err)
	}
}

// addEvent decodes and enriches one encoded event of message m.
func (c *Consumer) addEvent(m kafka.Message, encoded []byte) {
	c.rows = append(c.rows, chstore.Row{})
	row := &c.rows[len(c.rows)-1]
	if err := event.Decode(encoded, &row.Event); err != nil {
		c.rows = c.rows[:len(c.rows)-1]
		c.reject(m, encoded, err)
		return
	}
	c.en.Enrich(&row.Event, &row.Enriched)
	c.rowMsg = append(c.rowMsg, m.Partition)
}

// reject keeps bytes of message m that cannot be read, for events_rejected.
func (c *Consumer) reject(m kafka.Message, payload []byte, err error) {
	c.rej = append(c.rej, chstore.Rejected{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Err: err.Error(), Payload: payload})
	decodeErrors.Inc()
}

// flush writes the batch and commits it, retrying ClickHouse until it takes
// the batch or ctx ends: the offsets stay uncommitted until then, so a
// processor that dies here loses nothing.
func (c *Consumer) flush(ctx context.Context) error {
	if len(c.rows) == 0 && len(c.rej) == 0 {
		return nil
	}
	start := time.Now()
	backoff := 200 * time.Millisecond
	for {
		err := c.write(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return fmt.Errorf("write batch of %d events: %w", len(c.rows), err)
		}
		if errors.Is(err, errStop) {
			return err
		}
		insertRetries.Inc()
		slog.Warn("clickhouse insert failed, retrying", "events", len(c.rows), "err", err)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
		}
		backoff = min(2*backoff, 10*time.Second)
	}
	if c.cfg.afterInsert != nil {
		if err := c.cfg.afterInsert(); err != nil {
			return fmt.Errorf("%w: %v", errStop, err)
		}
	}
	msgs := make([]kafka.Message, 0, len(c.last))
	for _, m := range c.last {
		msgs = append(msgs, m)
	}
	if err := c.r.CommitMessages(ctx, msgs...); err != nil {
		// The partition may have moved to another member; whoever reads
		// these events again will find them in ClickHouse and skip them.
		commitErrors.Inc()
		slog.Warn("kafka commit failed", "err", err)
	}
	flushSeconds.Observe(time.Since(start).Seconds())
	batchEvents.Observe(float64(len(c.rows)))
	c.reset()
	return nil
}

var errStop = errors.New("consumer stopped by test hook")

// write inserts the batch, first dropping events that are already stored
// on partitions that may have been redelivered.
func (c *Consumer) write(ctx context.Context) error {
	if err := c.dropStored(ctx); err != nil {
		return err
	}
	if err := c.dropErased(ctx); err != nil {
		return err
	}
	if err := c.resolveRecipients(ctx); err != nil {
		return err
	}
	if err := c.store.InsertRejected(ctx, c.rej); err != nil {
		return err
	}
	c.rej = c.rej[:0] // written; a retry must not write them twice
	if err := c.store.Insert(ctx, c.rows); err != nil {
		return err
	}
	c.Inserted += int64(len(c.rows))
	inserted.Add(float64(len(c.rows)))
	if n := len(c.rows); n > 0 {
		lag := time.Since(time.UnixMilli(c.rows[n-1].Event.TimeMs)).Seconds()
		freshness.Observe(max(lag, 0))
	}
	return nil
}

// dropStored removes from the batch the events of unverified partitions
// that ClickHouse already has. Inserts are atomic and follow offset order,
// so what was stored of a partition is a prefix of what is redelivered: once
// one of its events is missing, the rest are new and the partition is
// verified until the next gap.
func (c *Consumer) dropStored(ctx context.Context) error {
	var check []*event.Event
	for i := range c.rows {
		if !c.verified[c.rowMsg[i]] {
			check = append(check, &c.rows[i].Event)
		}
	}
	if len(check) == 0 {
		return nil
	}
	found, err := c.store.Existing(ctx, check)
	if err != nil {
		return err
	}
	keep, keepPart := c.rows[:0], c.rowMsg[:0]
	for i := range c.rows {
		p := c.rowMsg[i]
		if !c.verified[p] && found[c.rows[i].Event.ID] {
			duplicates.Inc()
			continue
		}
		keep, keepPart = append(keep, c.rows[i]), append(keepPart, p)
	}
	for i := range keep {
		c.verified[keepPart[i]] = true
	}
	if skipped := len(c.rows) - len(keep); skipped > 0 {
		slog.Info("skipped events already in clickhouse", "events", skipped)
	}
	c.rows, c.rowMsg = keep, keepPart
	return nil
}

// resolveRecipients gives newsletter events their site and person from
// their recipient token. Those with an unknown token are kept in
// events_rejected, not lost (a deleted campaign), when the collector
// verified it; when it could not (recipients.Unverified: an earlier
// version's unsigned token, which only a recipient having it makes a
// reader's, or an invented one), they are dropped and counted, so that
// opens with made-up tokens fill no table.
func (c *Consumer) resolveRecipients(ctx context.Context) error {
	unknown, err := c.rcpt.Resolve(ctx, c.rows)
	if err != nil || len(unknown) == 0 {
		return err
	}
	keep, keepPart := c.rows[:0], c.rowMsg[:0]
	u := 0
	for i := range c.rows {
		if u < len(unknown) && unknown[u] == i {
			u++
			if recipients.Unverified(&c.rows[i].Event) {
				droppedUnknownToken.Inc()
				continue
			}
			c.rej = append(c.rej, chstore.Rejected{Topic: c.cfg.Topic, Err: "unknown recipient token", Payload: event.Append(nil, &c.rows[i].Event)})
			unknownTokens.Inc()
			continue
		}
		keep, keepPart = append(keep, c.rows[i]), append(keepPart, c.rowMsg[i])
	}
	c.rows, c.rowMsg = keep, keepPart
	return nil
}

func (c *Consumer) reset() {
	clear(c.rows) // release the Kafka message buffers the rows point into
	c.rows = c.rows[:0]
	c.rowMsg = c.rowMsg[:0]
	c.rej = c.rej[:0]
	clear(c.last)
}
