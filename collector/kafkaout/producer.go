// Package kafkaout is the collector's bounded, batching Kafka producer. Hits
// are copied into a fixed set of reusable batch buffers; a batch is written
// when it is full or has waited Linger, and a full queue is reported to the
// caller (who answers 503) instead of growing memory or dropping silently.
package kafkaout

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
)

// Delivery is when Enqueue reports a hit taken, and so when the client
// gets its 2xx.
type Delivery int

const (
	// Memory: once it is queued in memory. A crash loses what Kafka has
	// not acknowledged yet.
	Memory Delivery = iota
	// Disk: once it is in the write-ahead log, fsynced (group commit).
	Disk
	// Kafka: once Kafka has acknowledged it.
	Kafka
)

var deliveryNames = [...]string{"memory", "disk", "kafka"}

func (d Delivery) String() string { return deliveryNames[d] }

// ParseDelivery reads -delivery.
func ParseDelivery(s string) (Delivery, error) {
	for i, n := range deliveryNames {
		if s == n {
			return Delivery(i), nil
		}
	}
	return 0, fmt.Errorf("unknown delivery %q (memory, disk, kafka)", s)
}

// Config sets the producer's limits; zero values take the defaults below.
type Config struct {
	Brokers     []string
	Topic       string
	BatchEvents int           // events per batch (default 1000)
	BatchBytes  int           // bytes per batch (default 1 MiB, Kafka's usual message.max.bytes)
	Linger      time.Duration // longest wait before a partly filled batch is sent (default 20ms; memory and kafka delivery)
	Batches     int           // batch buffers in all: the queue bound (default 64)
	Writers     int           // batches written concurrently (default 4)
	Compression string        // none, gzip, snappy, lz4, zstd (default lz4)
	Delivery    Delivery
	// WALDir is the write-ahead log's directory: required with Disk; in
	// the other modes it receives the events still queued when Close's
	// deadline passes. Whatever it holds is produced at start.
	WALDir string
	// WALMaxBytes bounds the log with Disk delivery (default 1 GiB):
	// beyond, Enqueue returns ErrLogFull.
	WALMaxBytes int64
	// WALSegmentBytes is the size at which a segment is closed and the
	// next started (default 8 MiB).
	WALSegmentBytes int64
	// WALCommitInterval is the shortest time between two group commits
	// with Disk delivery: under load the hits of that long share one
	// fsync; a hit after a quiet spell is committed at once. 0 commits
	// whenever the previous fsync is done.
	WALCommitInterval time.Duration
}

func (c *Config) defaults() {
	if c.BatchEvents <= 0 {
		c.BatchEvents = 1000
	}
	if c.BatchBytes <= 0 {
		c.BatchBytes = 1 << 20
	}
	if c.Linger <= 0 {
		c.Linger = 20 * time.Millisecond
	}
	if c.Writers <= 0 {
		c.Writers = 4
	}
	if c.Batches < c.Writers+1 {
		c.Batches = max(64, c.Writers+1)
	}
	if c.WALMaxBytes <= 0 {
		c.WALMaxBytes = 1 << 30
	}
}

// Errors from Enqueue.
var (
	ErrFull   = errors.New("event queue is full")
	ErrClosed = errors.New("producer is shutting down")
	ErrLarge  = errors.New("event larger than a batch")
	// errUnacked is what a hit waiting for Kafka (Kafka delivery) gets
	// when shutdown's deadline passes first.
	errUnacked = fmt.Errorf("%w: kafka did not acknowledge the events in time", ErrClosed)
)

// msgOverhead is what the log adds to a message, roughly, for its bound.
const msgOverhead = 16

// batch owns one reusable buffer of encoded messages.
type batch struct {
	buf    []byte
	ends   []int32 // per message: end of key, end of value in buf
	msgs   []kafka.Message
	sealed time.Time
	home   chan *batch // the free list it returns to

	// A batch read from the log: events per message (a pack has many),
	// and the segments its records came from, oldest first.
	counts []int
	from   []segRecords

	// Hits waiting for this batch to be in the log (Disk) or acknowledged
	// (Kafka): counted under the producer's lock while it is current,
	// woken once each; the last one awake puts the batch back.
	waiters int32
	wake    chan struct{}
	err     error
	left    atomic.Int32
}

// segRecords is what a batch of the log holds of one segment: Kafka's
// acknowledgement of the batch is that many records of it.
type segRecords struct {
	seg             *segment
	records, events int
}

func (b *batch) count() int { return len(b.ends) / 2 }

func (b *batch) reset() {
	b.buf = b.buf[:0]
	b.ends = b.ends[:0]
	clear(b.msgs) // drop references into buf before reuse
	b.msgs = b.msgs[:0]
	b.counts = b.counts[:0]
	clear(b.from)
	b.from = b.from[:0]
	b.waiters, b.err = 0, nil
}

// messages builds kafka.Messages pointing into buf; done only after the
// batch is sealed, since appends may move buf.
func (b *batch) messages() []kafka.Message {
	start := int32(0)
	for i := 0; i < len(b.ends); i += 2 {
		k, v := b.ends[i], b.ends[i+1]
		b.msgs = append(b.msgs, kafka.Message{Key: b.buf[start:k:k], Value: b.buf[k:v:v]})
		start = v
	}
	return b.msgs
}

// Writer is what the producer writes batches with; *kafka.Writer in
// production.
type Writer interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
	Close() error
}

// Producer queues events and writes them to Kafka in batches.
//
// With Memory and Kafka delivery, Enqueue fills batches that the writers
// send. With Disk delivery the committer takes each sealed batch into the
// log, and the log's reader makes the batches the writers send: the log is
// the queue. In every mode the reader first produces what an earlier run
// left in the log.
type Producer struct {
	cfg   Config
	w     Writer
	parts func() int // nil: no packs
	log   *wal       // nil without WALDir
	// reconnect makes the writer forget its connections and what it
	// learnt through them (nil: nothing to forget).
	reconnect func()

	mu          sync.Mutex
	cur         *batch
	closed      bool
	uncommitted int // bytes enqueued and not yet in the log (Disk)

	free    chan *batch // Enqueue's buffers
	sealed  chan *batch // sealed by Enqueue: to the writers, or the committer (Disk)
	logFree chan *batch // the log reader's buffers
	fromLog chan *batch // read from the log: to the writers
	kick    chan struct{}

	done      chan struct{} // closed when the writers have finished
	committed chan struct{} // closed when the committer has finished (Disk)
	stopL     chan struct{} // stops the linger ticker and the committer

	// Writers backing off after a failed write wait on up, which the
	// next successful write closes: once Kafka answers one writer, the
	// others retry at once instead of sleeping out their backoff.
	backingOff atomic.Int32
	upMu       sync.Mutex
	up         chan struct{}

	// hardStop cancels in-flight writes when Close's context ends.
	hardCtx  context.Context
	hardStop context.CancelFunc
}

// New starts a producer writing to cfg.Topic.
func New(cfg Config) (*Producer, error) {
	cfg.defaults()
	codec, err := compression(cfg.Compression)
	if err != nil {
		return nil, err
	}
	bal := &partitioner{}
	transport := &kafka.Transport{MetadataTTL: metadataTTL, DialTimeout: dialTimeout}
	w := &kafka.Writer{
		Addr:     kafka.TCP(cfg.Brokers...),
		Topic:    cfg.Topic,
		Balancer: bal,
		// The writer re-batches per partition; let it send as soon as our
		// batch has been handed over instead of waiting for its own timer.
		// kafka-go makes room for BatchSize messages (152 bytes each) in
		// every request it starts: with BatchEvents there, that room was
		// most of the collector's garbage. A pack is one message per
		// partition per batch, so a request holds about one per
		// concurrent writer (more when a pack outgrows BatchBytes);
		// the single events of a batch sent before the partition count is
		// known take a few more requests.
		BatchSize:    4 * cfg.Writers,
		BatchBytes:   int64(cfg.BatchBytes) + 64<<10,
		BatchTimeout: time.Millisecond,
		RequiredAcks: kafka.RequireAll,
		Compression:  codec,
		// One attempt: write's own loop retries, and before each retry it
		// makes the transport forget the cluster's layout (reconnect),
		// so that the retry goes to the partition's new leader. kafka-go's
		// retries would go to the dead one again, with the metadata it
		// had (it refreshes only every MetadataTTL, not on an error).
		MaxAttempts:  1,
		WriteTimeout: writeTimeout,
		// Its own transport: the shared default caches topic metadata for
		// every writer of the process, and a topic created after that cache
		// was filled stays unknown to it for a while.
		Transport: &metaCache{next: transport},
	}
	p, err := newProducer(cfg, w, bal.partitions)
	if err != nil {
		return nil, err
	}
	// The transport keeps the error of a failed metadata request (Kafka
	// away) for a random part of MetadataTTL and answers every write
	// with it: after an outage the writes failed for up to 30 s more; and
	// it keeps a lost leader in its layout as long. A fresh pool asks
	// again.
	p.reconnect = transport.CloseIdleConnections
	return p, nil
}

// How the producer meets a lost broker. A killed leader resets its
// connections: the write fails at once, and the retry after the first
// backoff (100 ms) asks any live bootstrap broker for the layout again.
// Until the cluster has fenced the lost broker and moved its partitions
// (broker.session.timeout.ms on KRaft, 9 s by default; deploy/ sets 4 s)
// the retries fail and back off up to maxBackoff. A broker that stops
// answering without a reset (a host gone) takes dialTimeout to be passed
// over. writeTimeout is also how long a broker may hold a write for
// acks=all while a lost follower is still in sync: it must outlast the
// fencing, or the write fails although Kafka keeps it and its retry writes
// it twice (5 s did, with 4 s fencing, in make test-kafka-cluster).
// acks=all with min.insync.replicas (kafkaadmin) keeps an acknowledged
// event on two brokers of three.
const (
	metadataTTL  = 10 * time.Second
	dialTimeout  = 3 * time.Second
	writeTimeout = 10 * time.Second
)

// NewWithWriter starts a producer on w, one event to a message; tests use
// it to inject failures.
func NewWithWriter(cfg Config, w Writer) (*Producer, error) { return newProducer(cfg, w, nil) }

// newProducer starts a producer on w. With partitions, which tells the
// topic's partition count once the writer has learnt it (0 before), each
// batch goes out as one pack per partition.
func newProducer(cfg Config, w Writer, partitions func() int) (*Producer, error) {
	cfg.defaults()
	if cfg.Delivery == Disk && cfg.WALDir == "" {
		return nil, errors.New("disk delivery needs a write-ahead log directory")
	}
	p := &Producer{
		cfg:    cfg,
		w:      w,
		parts:  partitions,
		free:   make(chan *batch, cfg.Batches),
		sealed: make(chan *batch, cfg.Batches),
		kick:   make(chan struct{}, 1),
		done:   make(chan struct{}),
		stopL:  make(chan struct{}),
	}
	if cfg.WALDir != "" {
		var err error
		if p.log, err = openWAL(cfg.WALDir, cfg.WALSegmentBytes); err != nil {
			return nil, err
		}
		walCapacity.Set(float64(cfg.WALMaxBytes))
		p.logFree = make(chan *batch, cfg.Writers+1)
		p.fromLog = make(chan *batch, cfg.Writers+1)
		for i := 0; i < cfg.Writers+1; i++ {
			b := p.newBatch(p.logFree, false)
			b.from = make([]segRecords, 0, 8)
			p.logFree <- b
		}
	}
	p.hardCtx, p.hardStop = context.WithCancel(context.Background())
	for i := 0; i < cfg.Batches; i++ {
		p.free <- p.newBatch(p.free, cfg.Delivery != Memory)
	}
	queueCapacity.Set(float64(cfg.Batches * cfg.BatchEvents))
	var wg sync.WaitGroup
	for i := 0; i < cfg.Writers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.writeLoop()
		}()
	}
	go func() {
		wg.Wait()
		close(p.done)
	}()
	if cfg.Delivery == Disk {
		p.committed = make(chan struct{})
		go p.commitLoop()
	} else {
		go p.lingerLoop()
	}
	if p.log != nil {
		go p.readLoop()
	}
	return p, nil
}

// newBatch makes a buffer that starts with room for its events at a
// typical size and grows (once, then it is reused) up to BatchBytes if its
// events are larger: messages only point into it after it is sealed.
func (p *Producer) newBatch(home chan *batch, waited bool) *batch {
	b := &batch{
		buf:  make([]byte, 0, min(p.cfg.BatchBytes, p.cfg.BatchEvents*512)),
		ends: make([]int32, 0, 2*p.cfg.BatchEvents),
		msgs: make([]kafka.Message, 0, p.cfg.BatchEvents),
		home: home,
	}
	if waited {
		// At most one waiter per event.
		b.wake = make(chan struct{}, p.cfg.BatchEvents)
	}
	return b
}

// Msg is one event to enqueue: its partition key and encoded value.
type Msg struct{ Key, Value []byte }

// Enqueue copies msgs into the queue, all or none, so a client's batch is
// either accepted whole or refused whole. It returns ErrFull when the queue
// (or with Disk delivery the log) has no room, ErrClosed after Close. With
// Disk delivery it returns once the events are in the log, with Kafka
// delivery once Kafka has acknowledged them. It does not allocate.
func (p *Producer) Enqueue(msgs ...Msg) error {
	size := 0
	for _, m := range msgs {
		if len(m.Key)+len(m.Value) > p.cfg.BatchBytes {
			return ErrLarge
		}
		size += len(m.Key) + len(m.Value) + msgOverhead
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrClosed
	}
	// Reserve room first: count how many fresh batches the messages need
	// and fail before copying anything if the free list is short.
	if !p.fits(msgs) {
		p.mu.Unlock()
		return ErrFull
	}
	if p.cfg.Delivery == Disk {
		if p.log.bytes.Load()+int64(p.uncommitted+size) > p.cfg.WALMaxBytes {
			p.mu.Unlock()
			walFull.Add(float64(len(msgs)))
			return ErrLogFull
		}
		p.uncommitted += size
	}
	var waitOn [4]*batch
	wait := waitOn[:0]
	for _, m := range msgs {
		if p.cur == nil || p.cur.count() >= p.cfg.BatchEvents || len(p.cur.buf)+len(m.Key)+len(m.Value) > p.cfg.BatchBytes {
			if p.cur != nil {
				p.sealLocked()
			}
			p.cur = <-p.free // fits() made sure one is there
		}
		b := p.cur
		b.buf = append(b.buf, m.Key...)
		k := int32(len(b.buf))
		b.buf = append(b.buf, m.Value...)
		b.ends = append(b.ends, k, int32(len(b.buf)))
		if b.wake != nil && (len(wait) == 0 || wait[len(wait)-1] != b) {
			b.waiters++
			wait = append(wait, b)
		}
	}
	queued.Add(float64(len(msgs)))
	if p.cur != nil && p.cur.count() >= p.cfg.BatchEvents {
		p.sealLocked()
	}
	p.mu.Unlock()
	if len(wait) == 0 {
		return nil
	}
	if p.cfg.Delivery == Disk {
		select {
		case p.kick <- struct{}{}:
		default:
		}
	}
	var err error
	for _, b := range wait {
		<-b.wake
		if b.err != nil && err == nil {
			err = b.err
		}
		if b.left.Add(-1) == 0 {
			p.release(b)
		}
	}
	return err
}

// resolve tells the hits waiting on b how it went, or puts b back when
// none waits.
func (p *Producer) resolve(b *batch, err error) {
	n := b.waiters
	if n == 0 {
		p.release(b)
		return
	}
	b.err = err
	b.left.Store(n)
	for i := int32(0); i < n; i++ {
		b.wake <- struct{}{}
	}
}

func (p *Producer) release(b *batch) {
	home := b.home
	b.reset()
	home <- b
}

// fits reports whether msgs can be queued with the batches on the free list.
func (p *Producer) fits(msgs []Msg) bool {
	avail := len(p.free)
	count, bytes := 0, 0
	if p.cur != nil {
		count, bytes = p.cur.count(), len(p.cur.buf)
	} else {
		if avail == 0 {
			return false
		}
		avail--
	}
	for _, m := range msgs {
		n := len(m.Key) + len(m.Value)
		if count >= p.cfg.BatchEvents || bytes+n > p.cfg.BatchBytes {
			if avail == 0 {
				return false
			}
			avail--
			count, bytes = 0, 0
		}
		count++
		bytes += n
	}
	return true
}

// sealLocked hands the current batch to the writers (or the committer).
// sealed has room for every batch, so this never blocks.
func (p *Producer) sealLocked() {
	b := p.cur
	p.cur = nil
	if b.count() == 0 {
		p.free <- b
		return
	}
	b.sealed = time.Now()
	p.sealed <- b
}

func (p *Producer) lingerLoop() {
	// Ticking at a quarter of Linger bounds the wait of the first event in a
	// batch to 1.25 Linger without a timer per batch.
	t := time.NewTicker(p.cfg.Linger / 4)
	defer t.Stop()
	var first time.Time
	for {
		select {
		case <-p.stopL:
			return
		case now := <-t.C:
			p.mu.Lock()
			switch {
			case p.cur == nil || p.cur.count() == 0:
				first = time.Time{}
			case first.IsZero():
				first = now
			case now.Sub(first) >= p.cfg.Linger && len(p.sealed) == 0:
				// A sealed batch already waiting means the writers are
				// behind (Kafka slow or away): sealing this one too would
				// only spend a buffer on a few events. It fills instead,
				// so the queue's bound counts in full batches.
				p.sealLocked()
				first = time.Time{}
			}
			p.mu.Unlock()
		}
	}
}

// commitLoop is the group commit of Disk delivery: when a hit is waiting,
// and WALCommitInterval has passed since the last commit began, it takes
// every batch filled since, the current one too, into the log with one
// write and one fsync. Under load the hits of an interval (or of an
// fsync, when longer) share the next; a lone hit after a quiet spell
// waits for its own fsync only.
func (p *Producer) commitLoop() {
	defer close(p.committed)
	var group []*batch
	var last time.Time
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		stopping := false
		select {
		case <-p.kick:
		case <-p.stopL:
			stopping = true
		}
		if wait := p.cfg.WALCommitInterval - time.Since(last); !stopping && wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-p.stopL:
				stopping = true
				timer.Stop()
			}
		}
		last = time.Now()
		p.mu.Lock()
		if p.cur != nil && p.cur.count() > 0 {
			p.sealLocked()
		}
		p.mu.Unlock()
		group = group[:0]
	take:
		for {
			select {
			case b, ok := <-p.sealed:
				if !ok {
					break take
				}
				group = append(group, b)
			default:
				break take
			}
		}
		if len(group) > 0 {
			p.commit(group)
		}
		if stopping {
			// Close sealed the last batch and closed sealed.
			for b := range p.sealed {
				p.commit([]*batch{b})
			}
			return
		}
	}
}

// commit writes group to the log, synced, and wakes its hits.
func (p *Producer) commit(group []*batch) {
	p.log.wmu.Lock()
	for _, b := range group {
		p.log.appendBatch(b)
	}
	err := p.log.commit()
	p.log.wmu.Unlock()
	if err != nil {
		slog.Error("write-ahead log: hits refused", "err", err)
		err = fmt.Errorf("%w: %w", ErrFull, err)
	}
	events, size := 0, 0
	for _, b := range group {
		events += b.count()
		size += len(b.buf) + msgOverhead*b.count()
	}
	p.mu.Lock()
	p.uncommitted -= size
	p.mu.Unlock()
	queued.Sub(float64(events))
	if err == nil {
		walWritten.Add(float64(events))
		walCommitEvents.Observe(float64(events))
	}
	for _, b := range group {
		p.resolve(b, err)
	}
}

// readLoop turns what the log holds into batches for the writers, oldest
// first, until the log is drained at Close or stopped.
func (p *Producer) readLoop() {
	defer close(p.fromLog)
	for {
		var b *batch
		select {
		case b = <-p.logFree:
		case <-p.hardCtx.Done():
			return
		}
		if !p.log.next(b, true) {
			p.release(b)
			return
		}
		// More records, of this segment and the next ones, for up to
		// Linger: a record is a group commit's worth of hits, and a
		// segment a second's (segmentAge); a Kafka request each would cost
		// the collector (and the broker) more than the hits, and made a
		// drain after a long outage at a low rate a request per segment.
		first := time.Now()
		for b.count() < p.cfg.BatchEvents && len(b.buf) < p.cfg.BatchBytes/2 {
			if p.log.next(b, false) {
				continue
			}
			if time.Since(first) >= p.cfg.Linger || p.log.ending() {
				break
			}
			// Polled: a Close (the log draining) is seen within 5 ms
			// whatever the linger.
			time.Sleep(min(p.cfg.Linger/4, 5*time.Millisecond))
		}
		b.sealed = time.Now()
		p.fromLog <- b
	}
}

func (p *Producer) writeLoop() {
	var k packer
	sealed, fromLog := p.sealed, p.fromLog
	if p.cfg.Delivery == Disk {
		sealed = nil // the committer's
	}
	for sealed != nil || fromLog != nil {
		var b *batch
		var ok bool
		select {
		case b, ok = <-sealed:
			if !ok {
				sealed = nil
				continue
			}
		case b, ok = <-fromLog:
			if !ok {
				fromLog = nil
				continue
			}
		}
		p.write(b, &k)
	}
}

// maxBackoff is the longest wait between two attempts of a write: after
// an outage, Kafka's return is seen within about that long (was 5 s).
const maxBackoff = time.Second

// write sends b until Kafka has acknowledged every message, retrying with
// backoff (up to maxBackoff; a write of another writer that succeeds ends
// the wait): an accepted event is never dropped because the broker was away
// for a while. Only a hard stop (Close's deadline) abandons it: a batch of
// the log stays there, another goes to the log when there is one.
func (p *Producer) write(b *batch, k *packer) {
	msgs := b.messages()
	n, abandoned := len(msgs), 0
	var counts []int // events per message when packed
	fromLog := len(b.from) > 0
	if fromLog {
		n = 0
		packed := false
		for _, c := range b.counts {
			n += c
			packed = packed || c > 1
		}
		if packed {
			counts = b.counts // packs an earlier run left in the log
		}
	}
	if counts == nil && p.parts != nil {
		if parts := p.parts(); parts > 0 {
			msgs, counts = k.pack(msgs, parts, p.cfg.BatchBytes)
		}
	}
	backoff := 100 * time.Millisecond
	for attempt := 0; ; attempt++ {
		err := p.w.WriteMessages(p.hardCtx, msgs...)
		if err == nil {
			break
		}
		var werrs kafka.WriteErrors
		if errors.As(err, &werrs) && len(werrs) == len(msgs) {
			// Resend only what failed: resending the rest would put
			// duplicates in Kafka.
			kept, keptCounts := msgs[:0], counts[:0]
			for i, e := range werrs {
				if e != nil {
					kept = append(kept, msgs[i])
					if counts != nil {
						keptCounts = append(keptCounts, counts[i])
					}
				}
			}
			msgs, counts = kept, keptCounts
		}
		if p.hardCtx.Err() != nil {
			abandoned = len(msgs)
			if counts != nil {
				abandoned = 0
				for _, c := range counts {
					abandoned += c
				}
			}
			p.abandon(b, msgs, counts, abandoned, err)
			break
		}
		retries.Inc()
		if p.reconnect != nil {
			p.reconnect()
		}
		if attempt%10 == 0 {
			slog.Warn("kafka produce failed, retrying", "messages", len(msgs), "attempt", attempt+1, "err", err)
		}
		p.backingOff.Add(1)
		p.upMu.Lock()
		if p.up == nil {
			p.up = make(chan struct{})
		}
		up := p.up
		p.upMu.Unlock()
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-up:
		case <-p.hardCtx.Done():
		}
		t.Stop()
		p.backingOff.Add(-1)
		backoff = min(backoff*2, maxBackoff)
	}
	if abandoned == 0 && p.backingOff.Load() > 0 {
		p.upMu.Lock()
		if p.up != nil {
			close(p.up)
			p.up = nil
		}
		p.upMu.Unlock()
	}
	produceSeconds.Observe(time.Since(b.sealed).Seconds())
	batchEvents.Observe(float64(n))
	batchBytes.Observe(float64(len(b.buf)))
	produced.Add(float64(n - abandoned))
	if fromLog {
		if abandoned == 0 {
			for _, f := range b.from {
				if f.seg.recovered {
					walReplayed.Add(float64(f.events))
				}
				p.log.ack(f.seg, f.records)
			}
		}
		p.release(b)
		return
	}
	queued.Sub(float64(n))
	if abandoned > 0 {
		p.resolve(b, errUnacked)
	} else {
		p.resolve(b, nil)
	}
}

// abandon keeps what Kafka had not taken by Close's deadline: a batch
// of the log stays in it; another is written to it when there is one, or
// counted lost.
func (p *Producer) abandon(b *batch, msgs []kafka.Message, counts []int, events int, err error) {
	if len(b.from) > 0 {
		slog.Warn("kafka did not take the log before shutdown: it stays for the next start", "events", events)
		return
	}
	if p.log != nil {
		keys, values := make([][]byte, len(msgs)), make([][]byte, len(msgs))
		for i, m := range msgs {
			keys[i], values[i] = m.Key, m.Value
		}
		if werr := p.log.writeMessages(keys, values, counts); werr == nil {
			walWritten.Add(float64(events))
			slog.Warn("kafka did not take the queue before shutdown: events kept in the write-ahead log for the next start", "events", events, "dir", p.cfg.WALDir)
			return
		} else {
			slog.Error("write unsent events to the write-ahead log", "events", events, "err", werr)
		}
	}
	lost.Add(float64(events))
	slog.Error("kafka produce abandoned at shutdown", "events", events, "err", err)
}

// Close stops taking events, writes everything queued (with a log: and
// what it holds), and closes the Kafka writer. If ctx ends first, in-flight
// writes are abandoned: what the log holds stays there, queued events go
// to the log when there is one, else they are counted in
// collector_kafka_lost_events_total.
func (p *Producer) Close(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	if p.cur != nil {
		p.sealLocked()
	}
	close(p.stopL)
	close(p.sealed)
	p.mu.Unlock()

	if p.committed != nil {
		<-p.committed // every event taken is in the log
	}
	if p.log != nil {
		p.log.drain()
	}
	var err error
	select {
	case <-p.done:
	case <-ctx.Done():
		p.hardStop()
		if p.log != nil {
			p.log.stopReading()
		}
		<-p.done
		err = fmt.Errorf("flush kafka queue: %w", ctx.Err())
	}
	p.hardStop()
	if p.log != nil {
		p.log.close()
	}
	if cerr := p.w.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("close kafka writer: %w", cerr)
	}
	return err
}

func compression(name string) (kafka.Compression, error) {
	switch name {
	case "", "lz4":
		return kafka.Lz4, nil
	case "none":
		return 0, nil
	case "gzip":
		return kafka.Gzip, nil
	case "snappy":
		return kafka.Snappy, nil
	case "zstd":
		return kafka.Zstd, nil
	}
	return 0, fmt.Errorf("unknown kafka compression %q (none, gzip, snappy, lz4, zstd)", name)
}
