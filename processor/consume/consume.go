// Package consume reads events from Kafka in a consumer group and writes
// them to ClickHouse in batches, committing offsets only after ClickHouse has
// taken the batch, and dropping every copy of an event already read or
// stored (dedup.go): a producer's retry, a collector's replayed log, a
// partition read again after a crash or a rebalance. While ClickHouse
// fails it holds its batch, commits nothing, retries with a bounded
// backoff and says so in its metrics and readiness (health.go).
package consume

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/segmentio/kafka-go"

	"footfall/internal/erasure"
	"footfall/internal/event"
	"footfall/internal/geoip"
	"footfall/processor/attribute"
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
	// DedupIDs is how many event ids the consumer remembers per partition
	// (dedup.go; default 100000).
	DedupIDs int
	// InsertTimeout bounds one attempt at writing a batch (default 1m): a
	// ClickHouse that hangs is retried like one that refuses.
	InsertTimeout time.Duration
	// SessionTimeout, HeartbeatInterval and RebalanceTimeout are the
	// consumer group's (see New; defaults 6s, 500ms, 5s).
	SessionTimeout    time.Duration
	HeartbeatInterval time.Duration
	RebalanceTimeout  time.Duration

	// afterInsert, when set, runs after each insert and before the commit;
	// an error stops the consumer there, as a crash would. Tests only.
	afterInsert func() error
	// answerLost, when set, runs after each insert ClickHouse took; an
	// error makes the write fail as if its answer had been lost on the
	// way. Tests only.
	answerLost func() error
	// beforeInsert, when set, runs after the look-ups and before the
	// rebalance check and the insert; an error fails the write as
	// ClickHouse's would. Tests only.
	beforeInsert func() error
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
	if c.DedupIDs <= 0 {
		c.DedupIDs = 100000
	}
	if c.InsertTimeout <= 0 {
		c.InsertTimeout = time.Minute
	}
	if c.SessionTimeout <= 0 {
		c.SessionTimeout = 6 * time.Second
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = 500 * time.Millisecond
	}
	if c.RebalanceTimeout <= 0 {
		c.RebalanceTimeout = 5 * time.Second
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
	rowMsg []rowOrigin // where each row comes from, for the duplicate check
	unsure int         // rows read since the last look-up that need one (fill)
	rej    []chstore.Rejected
	last   map[int]kafka.Message // highest message per partition in the batch
	// earlyFailed ends the look-ups during the fill for the batch.
	earlyFailed bool

	// resend says that an insert of the batch failed and the store drops
	// a block it already holds (Store.Deduplicates, a cluster): the next
	// attempt sends the same rows with the same credits (credits), the
	// same block byte for byte, so that each table, the views' too, keeps
	// what the failed attempt stored of it and takes the rest. Dropping the
	// stored ids instead would leave out the views' rows of a block whose
	// events a replica stored before it died (see chsql.ClusterSQL).
	resend  bool
	credits []attribute.Touch
	sending bool // an attempt got as far as the insert

	// next is the offset this consumer expects next on each partition. A
	// message elsewhere means the partition was (re)assigned and may start
	// with events that were inserted but never committed: its memory of
	// ids starts again there.
	next map[int]int64
	seen map[int]*seenIDs
	// generations counts the group generations the reader has started
	// (rebalances), and batchGen is the count when the batch began: a
	// batch from an earlier generation may hold partitions that are
	// another member's now (see stale).
	generations, batchGen int64

	health health

	// Inserted counts the events this consumer wrote, for tests that check
	// partitions are shared.
	Inserted int64
}

// rowOrigin is a row's partition, and whether its id must be looked up in
// ClickHouse before the insert (seenIDs.unsure).
type rowOrigin struct {
	partition int
	lookUp    bool
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
		// A member that dies without leaving (SIGKILL, a lost machine)
		// holds its partitions until the coordinator has heard nothing
		// from it for SessionTimeout: 6 s is the least a broker accepts by
		// default (group.min.session.timeout.ms), and heartbeats come from
		// kafka-go's own goroutine, so a long insert does not miss them.
		// The survivors learn of the rebalance at their next heartbeat, so
		// a short HeartbeatInterval takes up to 0.5 s off the takeover
		// instead of 1 s. RebalanceTimeout is how long the coordinator
		// waits for members to rejoin; kafka-go rejoins at once, so only a
		// member dying in the middle of a rebalance makes it wait that
		// long. Measured: TestKilledMemberIsReplaced (README, "Delivery
		// guarantee").
		RebalanceTimeout:  cfg.RebalanceTimeout,
		HeartbeatInterval: cfg.HeartbeatInterval,
		SessionTimeout:    cfg.SessionTimeout,
		JoinGroupBackoff:  500 * time.Millisecond,
		ReadBackoffMin:    50 * time.Millisecond,
		ReadBackoffMax:    500 * time.Millisecond,
		ErrorLogger: kafka.LoggerFunc(func(msg string, args ...any) {
			slog.Warn("kafka reader: " + fmt.Sprintf(msg, args...))
		}),
	})
	c := &Consumer{
		cfg: cfg, store: store, r: r, en: enricher(cfg.GeoIP, cfg.Enrich), rcpt: recipients.NewResolver(store.DB()),
		last: map[int]kafka.Message{}, next: map[int]int64{}, seen: map[int]*seenIDs{},
	}
	c.health.lag.Store(-1)
	return c
}

// Close leaves the group, for a consumer that never ran.
func (c *Consumer) Close() error { return c.r.Close() }

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
	lagCtx, stopLag := context.WithCancel(context.Background())
	lagDone := make(chan struct{})
	go func() { defer close(lagDone); c.pollLag(lagCtx) }()
	defer func() { stopLag(); <-lagDone }()
	for {
		err := c.fill(ctx, time.Now().Add(c.cfg.FlushInterval))
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

// fill fetches messages until the batch is full or the window ends at
// deadline (or ctx). The ids that must be looked up in ClickHouse
// (seenIDs.unsure) are looked up while the batch fills, those read since
// the last look-up every quarter window (lookUpsPerWindow), not all at the
// flush: after a start or a takeover every event of the first clockSkew
// is unsure, and looking a whole batch up (20,000 ids, 0.1 to 0.6 s on
// the loaded test machine) held its insert back by that much (docs/perf.md,
// "Freshness is the path of one event"). Live traffic past that has no
// unsure ids and makes no look-up. The window does not count the
// look-ups' time: the batch is then what it was with the look-up at the
// flush, as big and so as cheap for ClickHouse per event (a part per
// table per insert), and only the wait of its events is shorter. Had the
// look-ups shortened the window, the inserts would have come oftener,
// smaller and dearer (and a processor behind would have fallen further
// behind).
func (c *Consumer) fill(ctx context.Context, deadline time.Time) error {
	looked := time.Now()
	for {
		fctx, cancel := context.WithDeadline(ctx, deadline)
		spent, looking, err := c.fetchUntilLookUp(fctx, ctx, &looked)
		cancel()
		if err != nil || !looking {
			return err
		}
		deadline = deadline.Add(spent)
	}
}

// fetchUntilLookUp adds messages to the batch until it is full or fctx
// ends, or until it made a look-up (fill), through ctx: then it returns
// the look-up's time and looking true.
func (c *Consumer) fetchUntilLookUp(fctx, ctx context.Context, looked *time.Time) (spent time.Duration, looking bool, err error) {
	for len(c.rows)+len(c.rej) < c.cfg.BatchSize {
		m, err := c.r.FetchMessage(fctx)
		if err != nil {
			return 0, false, err
		}
		c.add(m)
		if c.unsure > 0 && !c.earlyFailed && time.Since(*looked) >= c.cfg.FlushInterval/lookUpsPerWindow {
			began := time.Now()
			c.lookUpEarly(ctx)
			*looked = time.Now()
			return looked.Sub(began), true, nil
		}
	}
	return 0, false, nil
}

// lookUpsPerWindow is how many look-ups a fill window makes at most, each
// of the unsure ids read since the last: a look-up's own cost (a query)
// against a shorter wait at the flush for the ids read last.
const lookUpsPerWindow = 4

// lookUpEarly drops the batch's events already in ClickHouse, as the
// flush's dropStored would, and marks the rows looked up, so that the
// flush looks up only those read after. What it found stored cannot
// change before the insert but by another member inserting the same
// partition's events, which the rebalance check before the insert
// prevents as it does for the flush's own look-up (stale). A look-up
// that fails or takes longer than a window (a ClickHouse down or
// overloaded) ends them for the batch: the flush looks up the rest, and
// says when ClickHouse is down.
func (c *Consumer) lookUpEarly(ctx context.Context) {
	lctx, cancel := context.WithTimeout(ctx, max(c.cfg.FlushInterval, time.Second))
	defer cancel()
	if err := c.dropStored(lctx); err != nil {
		c.earlyFailed = true
		slog.Debug("look-up during the fill failed, left to the flush", "err", err)
		return
	}
	for i := range c.rowMsg {
		c.rowMsg[i].lookUp = false
	}
	c.unsure = 0
}

func (c *Consumer) add(m kafka.Message) {
	now := time.Now().UnixMilli()
	if len(c.last) == 0 && c.r != nil {
		c.batchGen = c.countGenerations()
	}
	if exp, ok := c.next[m.Partition]; !ok || exp != m.Offset {
		if s := c.seen[m.Partition]; s != nil {
			s.reset(now)
		} else {
			c.seen[m.Partition] = newSeenIDs(c.cfg.DedupIDs, now)
		}
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
		c.addEvent(m, m.Value, now)
		return
	}
	if unread, err := event.Unpack(m.Value, func(enc []byte) { c.addEvent(m, enc, now) }); err != nil {
		c.reject(m, unread, err)
	}
}

// addEvent decodes and enriches one encoded event of message m, read at
// now, unless the partition's memory has its id already.
func (c *Consumer) addEvent(m kafka.Message, encoded []byte, now int64) {
	c.rows = append(c.rows, chstore.Row{})
	row := &c.rows[len(c.rows)-1]
	if err := event.Decode(encoded, &row.Event); err != nil {
		c.rows = c.rows[:len(c.rows)-1]
		c.reject(m, encoded, err)
		return
	}
	s := c.seen[m.Partition]
	lookUp := s.unsure(row.Event.ID)
	if s.add(row.Event.ID, now) {
		*row = chstore.Row{}
		c.rows = c.rows[:len(c.rows)-1]
		duplicatesRemembered.Inc()
		return
	}
	c.en.Enrich(&row.Event, &row.Enriched)
	c.rowMsg = append(c.rowMsg, rowOrigin{partition: m.Partition, lookUp: lookUp})
	if lookUp {
		c.unsure++
	}
}

// reject keeps bytes of message m that cannot be read, for events_rejected.
func (c *Consumer) reject(m kafka.Message, payload []byte, err error) {
	c.rej = append(c.rej, chstore.Rejected{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Err: err.Error(), Payload: payload})
	decodeErrors.Inc()
}

// flush writes the batch and commits it, retrying ClickHouse until it takes
// the batch or ctx ends: the offsets stay uncommitted until then, so a
// processor that dies here loses nothing. Each attempt has InsertTimeout,
// and the waits between attempts double from 200 ms up to 5 s (with
// jitter, so that the members of a group do not retry in step). While the
// attempts fail, health says so (/readyz, processor_clickhouse_down).
func (c *Consumer) flush(ctx context.Context) error {
	if len(c.last) == 0 {
		return nil // nothing read; a batch of copies only is still committed
	}
	start := time.Now()
	backoff := 200 * time.Millisecond
	for {
		actx, cancel := context.WithTimeout(ctx, c.cfg.InsertTimeout)
		err := c.write(actx)
		cancel()
		if err == nil {
			c.health.up()
			break
		}
		if ctx.Err() != nil {
			return fmt.Errorf("write batch of %d events: %w", len(c.rows), err)
		}
		if errors.Is(err, errStop) {
			return err
		}
		if errors.Is(err, errStale) {
			c.discard()
			return nil
		}
		c.health.down(err, len(c.rows))
		if c.store.Deduplicates() {
			// Before the insert nothing reached the tables: the next
			// attempt does the whole of write again.
			c.resend = c.sending
		} else {
			// The insert may have reached the table with only its answer
			// lost: the next attempt looks every id of the batch up.
			for i := range c.rowMsg {
				c.rowMsg[i].lookUp = true
			}
		}
		insertRetries.Inc()
		slog.Warn("clickhouse write failed, retrying", "events", len(c.rows), "wait", backoff, "err", err)
		select {
		case <-time.After(backoff/2 + rand.N(backoff/2+1)):
		case <-ctx.Done():
		}
		backoff = min(2*backoff, maxBackoff)
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
		// these events again will look their ids up and drop them.
		commitErrors.Inc()
		slog.Warn("kafka commit failed", "err", err)
	}
	flushSeconds.Observe(time.Since(start).Seconds())
	batchEvents.Observe(float64(len(c.rows)))
	c.reset()
	return nil
}

// maxBackoff bounds the wait between two attempts at a batch.
const maxBackoff = 5 * time.Second

var errStop = errors.New("consumer stopped by test hook")

// errStale is write's answer for a batch read before a rebalance.
var errStale = errors.New("batch read before a rebalance")

// countGenerations adds the generations kafka-go started since it was
// last asked (its Stats counts since the last call) and returns the total.
func (c *Consumer) countGenerations() int64 {
	c.generations += c.r.Stats().Rebalances
	return c.generations
}

// stale says whether the group rebalanced since the batch began. Its
// partitions may then be another member's, which reads them again from
// the last commit: were both to insert (a member holding its batch
// through a ClickHouse outage while another takes its partitions over,
// both looking the ids up before either inserts), the events would be
// stored twice. The batch is dropped instead, uncommitted (discard).
func (c *Consumer) stale() bool {
	return c.r != nil && c.countGenerations() != c.batchGen
}

// discard drops the batch without committing it, after a rebalance: kafka-go
// reads this member's partitions again from their last commit, and what
// it had read of them is looked up again, as after any takeover.
func (c *Consumer) discard() {
	staleBatches.Inc()
	slog.Info("group rebalanced: batch dropped uncommitted, its partitions read again", "events", len(c.rows))
	c.reset()
	clear(c.next)
	c.store.ForgetVisitors()
}

// write inserts the batch, first dropping the events that are stored
// already.
func (c *Consumer) write(ctx context.Context) error {
	if c.resend {
		n := len(c.rows)
		if err := c.dropErased(ctx); err != nil {
			return err
		}
		if len(c.rows) != n {
			// An erasure since the first attempt took rows out: the block
			// is no longer the first one, which no table would drop as a
			// copy; what the first attempt stored is looked up instead.
			c.resend = false
			for i := range c.rowMsg {
				c.rowMsg[i].lookUp = true
			}
		}
	}
	if !c.resend {
		if err := c.dropStored(ctx); err != nil {
			return err
		}
		if err := c.dropKnownOrders(ctx); err != nil {
			return err
		}
	}
	if err := c.dropErased(ctx); err != nil {
		return err
	}
	if !c.resend {
		if err := c.resolveRecipients(ctx); err != nil {
			return err
		}
	}
	if c.cfg.beforeInsert != nil {
		if err := c.cfg.beforeInsert(); err != nil {
			return err
		}
	}
	// Right before the insert, the tombstones again when the last look is
	// older than erasure.SyncEvery (a slow lookup or recipients' read, a
	// held batch): an erasure that began meanwhile must not see its
	// person's rows inserted after it answered.
	if err := c.dropErased(ctx); err != nil {
		return err
	}
	if c.stale() {
		return errStale
	}
	if err := c.store.InsertRejected(ctx, c.rej); err != nil {
		return err
	}
	c.rej = c.rej[:0] // written; a retry must not write them twice
	c.sending = true
	if err := c.store.InsertCredited(ctx, c.rows, &c.credits); err != nil {
		return err
	}
	if c.cfg.answerLost != nil {
		if err := c.cfg.answerLost(); err != nil {
			return err
		}
	}
	c.Inserted += int64(len(c.rows))
	inserted.Add(float64(len(c.rows)))
	if len(c.rows) > 0 {
		// The newest event's age: a batch may end with history (events
		// the server API sent with their time, months old).
		newest := c.rows[0].Event.TimeMs
		for i := range c.rows {
			newest = max(newest, c.rows[i].Event.TimeMs)
		}
		freshness.Observe(max(time.Since(time.UnixMilli(newest)).Seconds(), 0))
	}
	return nil
}

// dropStored removes from the batch the events whose ids ClickHouse
// already has, of those the partitions' memories could not vouch for
// (rowOrigin.lookUp). A retried write looks them up again: an insert that
// failed on the client's side may have reached the table.
func (c *Consumer) dropStored(ctx context.Context) error {
	var check []*event.Event
	for i := range c.rows {
		if c.rowMsg[i].lookUp {
			check = append(check, &c.rows[i].Event)
		}
	}
	if len(check) == 0 {
		return nil
	}
	t0 := time.Now()
	found, err := c.store.Existing(ctx, check)
	if err != nil {
		return err
	}
	lookUpSeconds.Observe(time.Since(t0).Seconds())
	lookedUp.Add(float64(len(check)))
	if len(found) == 0 {
		return nil
	}
	keep, keepPart := c.rows[:0], c.rowMsg[:0]
	for i := range c.rows {
		if c.rowMsg[i].lookUp && found[c.rows[i].Event.ID] {
			duplicatesStored.Inc()
			continue
		}
		keep, keepPart = append(keep, c.rows[i]), append(keepPart, c.rowMsg[i])
	}
	clear(c.rows[len(keep):]) // release the dropped rows' message buffers
	slog.Info("dropped events already in clickhouse", "events", len(c.rows)-len(keep))
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
	c.resend, c.sending = false, false
	c.unsure, c.earlyFailed = 0, false
	c.credits = c.credits[:0]
}
