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
	"time"

	"github.com/segmentio/kafka-go"
)

// Config sets the producer's limits; zero values take the defaults below.
type Config struct {
	Brokers     []string
	Topic       string
	BatchEvents int           // events per batch (default 1000)
	BatchBytes  int           // bytes per batch (default 1 MiB, Kafka's usual message.max.bytes)
	Linger      time.Duration // longest wait before a partly filled batch is sent (default 20ms)
	Batches     int           // batch buffers in all: the queue bound (default 64)
	Writers     int           // batches written concurrently (default 4)
	Compression string        // none, gzip, snappy, lz4, zstd (default lz4)
	// SpoolDir, when set, receives the events still queued when Close's
	// deadline passes, and its files are produced again at start.
	SpoolDir string
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
}

// Errors from Enqueue.
var (
	ErrFull   = errors.New("event queue is full")
	ErrClosed = errors.New("producer is shutting down")
	ErrLarge  = errors.New("event larger than a batch")
)

// batch owns one reusable buffer of encoded messages.
type batch struct {
	buf    []byte
	ends   []int32 // per message: end of key, end of value in buf
	msgs   []kafka.Message
	sealed time.Time
}

func (b *batch) count() int { return len(b.ends) / 2 }

func (b *batch) reset() {
	b.buf = b.buf[:0]
	b.ends = b.ends[:0]
	clear(b.msgs) // drop references into buf before reuse
	b.msgs = b.msgs[:0]
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
type Producer struct {
	cfg   Config
	w     Writer
	parts func() int // nil: no packs

	mu     sync.Mutex
	cur    *batch
	closed bool

	free  chan *batch
	full  chan *batch
	done  chan struct{} // closed when the writers have finished
	stopL chan struct{} // stops the linger ticker

	// hardStop cancels in-flight writes when Close's context ends.
	hardCtx  context.Context
	hardStop context.CancelFunc

	replayDone chan struct{} // closed when the spool replay has finished
}

// New starts a producer writing to cfg.Topic.
func New(cfg Config) (*Producer, error) {
	cfg.defaults()
	codec, err := compression(cfg.Compression)
	if err != nil {
		return nil, err
	}
	bal := &partitioner{}
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
		MaxAttempts:  3,
		WriteTimeout: 10 * time.Second,
		// Its own transport: the shared default caches topic metadata for
		// every writer of the process, and a topic created after that cache
		// was filled stays unknown to it for a while.
		Transport: &metaCache{next: &kafka.Transport{MetadataTTL: 30 * time.Second}},
	}
	return newProducer(cfg, w, bal.partitions), nil
}

// NewWithWriter starts a producer on w, one event to a message; tests use
// it to inject failures.
func NewWithWriter(cfg Config, w Writer) *Producer { return newProducer(cfg, w, nil) }

// newProducer starts a producer on w. With partitions, which tells the
// topic's partition count once the writer has learnt it (0 before), each
// batch goes out as one pack per partition.
func newProducer(cfg Config, w Writer, partitions func() int) *Producer {
	cfg.defaults()
	p := &Producer{
		cfg:   cfg,
		w:     w,
		parts: partitions,
		free:  make(chan *batch, cfg.Batches),
		full:  make(chan *batch, cfg.Batches),
		done:  make(chan struct{}),
		stopL: make(chan struct{}),
	}
	p.hardCtx, p.hardStop = context.WithCancel(context.Background())
	// A buffer starts with room for its events at a typical size and grows
	// (once, then it is reused) up to BatchBytes if its events are larger:
	// messages only point into it after it is sealed.
	bufCap := min(cfg.BatchBytes, cfg.BatchEvents*512)
	for i := 0; i < cfg.Batches; i++ {
		p.free <- &batch{
			buf:  make([]byte, 0, bufCap),
			ends: make([]int32, 0, 2*cfg.BatchEvents),
			msgs: make([]kafka.Message, 0, cfg.BatchEvents),
		}
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
	go p.lingerLoop()
	if cfg.SpoolDir != "" {
		p.replayDone = make(chan struct{})
		go func() {
			defer close(p.replayDone)
			p.replaySpool(p.hardCtx, cfg.SpoolDir)
		}()
	}
	return p
}

// Msg is one event to enqueue: its partition key and encoded value.
type Msg struct{ Key, Value []byte }

// Enqueue copies msgs into the queue, all or none, so a client's batch is
// either accepted whole or refused whole. It returns ErrFull when the queue
// has no room, ErrClosed after Close. It does not allocate.
func (p *Producer) Enqueue(msgs ...Msg) error {
	for _, m := range msgs {
		if len(m.Key)+len(m.Value) > p.cfg.BatchBytes {
			return ErrLarge
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	// Reserve room first: count how many fresh batches the messages need
	// and fail before copying anything if the free list is short.
	if !p.fits(msgs) {
		return ErrFull
	}
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
	}
	queued.Add(float64(len(msgs)))
	if p.cur != nil && p.cur.count() >= p.cfg.BatchEvents {
		p.sealLocked()
	}
	return nil
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

// sealLocked hands the current batch to the writers. full has room for
// every batch, so this never blocks.
func (p *Producer) sealLocked() {
	b := p.cur
	p.cur = nil
	if b.count() == 0 {
		p.free <- b
		return
	}
	b.sealed = time.Now()
	p.full <- b
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
			case now.Sub(first) >= p.cfg.Linger && len(p.full) == 0:
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

func (p *Producer) writeLoop() {
	var k packer
	for b := range p.full {
		p.write(b, &k)
		b.reset()
		p.free <- b
	}
}

// write sends b until Kafka has acknowledged every message, retrying with
// backoff: an accepted event is never dropped because the broker was away
// for a while. Only a hard stop (Close's deadline) abandons it.
func (p *Producer) write(b *batch, k *packer) {
	msgs := b.messages()
	n, abandoned := len(msgs), 0
	var counts []int // events per message when packed
	if p.parts != nil {
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
			if p.cfg.SpoolDir != "" {
				serr := spoolWrite(p.cfg.SpoolDir, msgs)
				if serr == nil {
					spooled.Add(float64(abandoned))
					slog.Warn("kafka did not take the queue before shutdown: events spooled for the next start", "events", abandoned, "dir", p.cfg.SpoolDir)
					break
				}
				slog.Error("spool events", "events", abandoned, "err", serr)
			}
			lost.Add(float64(abandoned))
			slog.Error("kafka produce abandoned at shutdown", "events", abandoned, "err", err)
			break
		}
		retries.Inc()
		if attempt%10 == 0 {
			slog.Warn("kafka produce failed, retrying", "messages", len(msgs), "attempt", attempt+1, "err", err)
		}
		select {
		case <-time.After(backoff):
		case <-p.hardCtx.Done():
		}
		backoff = min(backoff*2, 5*time.Second)
	}
	produceSeconds.Observe(time.Since(b.sealed).Seconds())
	batchEvents.Observe(float64(n))
	batchBytes.Observe(float64(len(b.buf)))
	queued.Sub(float64(n))
	produced.Add(float64(n - abandoned))
}

// Close stops taking events, writes everything queued, and closes the Kafka
// writer. If ctx ends first, in-flight writes are abandoned: their events go
// to the spool when one is configured, else they are counted in
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
	close(p.full)
	p.mu.Unlock()

	var err error
	select {
	case <-p.done:
	case <-ctx.Done():
		p.hardStop()
		<-p.done
		err = fmt.Errorf("flush kafka queue: %w", ctx.Err())
	}
	p.hardStop()
	if p.replayDone != nil {
		<-p.replayDone // an unfinished replay keeps its file for the next start
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
