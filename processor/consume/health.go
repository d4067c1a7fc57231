package consume

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/segmentio/kafka-go"

	"footfall/internal/kafkaadmin"
)

// health is what the consumer tells /readyz and the metrics about
// ClickHouse and its lag: written by the consumer's loop and the lag
// poller, read by the ops listener.
type health struct {
	downSince atomic.Int64 // Unix ns of the first failed write of an outage, 0 when writes succeed
	lastErr   atomic.Pointer[string]
	held      atomic.Int64 // events of the batch held while writes fail
	// lag is the group's events in Kafka not committed yet, -1 before
	// the first poll or when Kafka did not answer it.
	lag atomic.Int64
}

// outage is the state of the latest consumer to write, for the gauges
// (one consumer per processor; tests run several).
var outage struct {
	downSince atomic.Int64
	lag       atomic.Int64
}

func (h *health) down(err error, held int) {
	h.held.Store(int64(held))
	now := time.Now().UnixNano()
	if h.downSince.CompareAndSwap(0, now) {
		slog.Error("clickhouse writes failing: holding the batch, committing nothing", "err", err)
	}
	outage.downSince.CompareAndSwap(0, now)
	msg := err.Error()
	h.lastErr.Store(&msg)
}

func (h *health) up() {
	if since := h.downSince.Swap(0); since != 0 {
		slog.Info("clickhouse writes succeed again", "outage", time.Since(time.Unix(0, since)).Round(time.Millisecond))
	}
	outage.downSince.Store(0)
}

// Ready is the consumer's part of /readyz: an error naming the outage and
// how far behind the group is while ClickHouse writes fail, else nil.
func (c *Consumer) Ready() error {
	since := c.health.downSince.Load()
	if since == 0 {
		return nil
	}
	msg := ""
	if p := c.health.lastErr.Load(); p != nil {
		msg = *p
	}
	return fmt.Errorf("clickhouse writes failing for %s, batch of %d events held, group lag %d events: %s",
		time.Since(time.Unix(0, since)).Round(time.Second), c.health.held.Load(), c.health.lag.Load(), msg)
}

// Lag is the group's lag as last polled: events in the topic past the
// group's committed offsets, -1 when unknown.
func (c *Consumer) Lag() int64 { return c.health.lag.Load() }

// lagEvery is how often the group's lag is asked of Kafka.
const lagEvery = 5 * time.Second

// pollLag asks Kafka for the group's lag every lagEvery until ctx ends.
func (c *Consumer) pollLag(ctx context.Context) {
	c.health.lag.Store(-1)
	client := &kafka.Client{Addr: kafka.TCP(c.cfg.Brokers...), Timeout: 5 * time.Second}
	t := time.NewTicker(lagEvery)
	defer t.Stop()
	for {
		lag, err := groupLag(ctx, client, c.cfg.Brokers, c.cfg.Topic, c.cfg.Group)
		if err != nil {
			lag = -1
			if ctx.Err() == nil {
				slog.Debug("kafka lag poll failed", "err", err)
			}
		}
		c.health.lag.Store(lag)
		outage.lag.Store(lag)
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
	}
}

// groupLag is the sum over topic's partitions of the events past group's
// committed offset (past the first offset kept when it has none).
func groupLag(ctx context.Context, client *kafka.Client, brokers []string, topic, group string) (int64, error) {
	n, err := kafkaadmin.Partitions(ctx, brokers, topic)
	if err != nil {
		return 0, err
	}
	parts := make([]int, n)
	reqs := make([]kafka.OffsetRequest, 0, 2*n)
	for p := range parts {
		parts[p] = p
		reqs = append(reqs, kafka.FirstOffsetOf(p), kafka.LastOffsetOf(p))
	}
	ends, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		return 0, fmt.Errorf("list offsets of %s: %w", topic, err)
	}
	committed, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: parts}})
	if err != nil {
		return 0, fmt.Errorf("fetch offsets of group %s: %w", group, err)
	}
	at := map[int]int64{}
	for _, p := range committed.Topics[topic] {
		if p.Error != nil {
			return 0, fmt.Errorf("offset of group %s on partition %d: %w", group, p.Partition, p.Error)
		}
		at[p.Partition] = p.CommittedOffset
	}
	var lag int64
	for _, p := range ends.Topics[topic] {
		if p.Error != nil {
			return 0, fmt.Errorf("offsets of partition %d: %w", p.Partition, p.Error)
		}
		from, ok := at[p.Partition]
		if !ok || from < p.FirstOffset {
			from = p.FirstOffset
		}
		lag += max(p.LastOffset-from, 0)
	}
	return lag, nil
}

var (
	_ = promauto.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "processor_clickhouse_down_seconds",
		Help: "How long the processor's ClickHouse writes have been failing (0 while they succeed): it holds its batch and commits nothing meanwhile.",
	}, func() float64 {
		if since := outage.downSince.Load(); since != 0 {
			return time.Since(time.Unix(0, since)).Seconds()
		}
		return 0
	})
	_ = promauto.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "processor_kafka_lag_events",
		Help: "Events in the topic past the consumer group's committed offsets, polled every 5 s (-1: Kafka did not answer).",
	}, func() float64 { return float64(outage.lag.Load()) })
)
