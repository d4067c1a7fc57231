package kafkaadmin_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"footfall/internal/kafkaadmin"
	"footfall/tests/stacktest"
)

// TestRetention: the events topic keeps records no longer than
// -kafka-retention, whether Ensure creates it or finds it made before
// (with the broker's week), and its segments roll so that Kafka can
// delete them: a record is readable at most retention + segment.
func TestRetention(t *testing.T) {
	brokers := stacktest.Brokers(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	topic := stacktest.Name(t, "t")
	t.Cleanup(func() { kafkaadmin.DeleteTopic(context.Background(), brokers, topic) })
	check := func(step, retention, segment string) {
		t.Helper()
		got, err := kafkaadmin.TopicConfigs(ctx, brokers, topic, "retention.ms", "segment.ms")
		if err != nil {
			t.Fatal(err)
		}
		if got["retention.ms"] != retention || got["segment.ms"] != segment {
			t.Errorf("%s: %v, want retention.ms %s, segment.ms %s", step, got, retention, segment)
		}
	}
	// Made before, as an older Footfall made it: the broker's defaults.
	if err := kafkaadmin.EnsureTopic(ctx, brokers, topic, 1, 1); err != nil {
		t.Fatal(err)
	}
	check("broker's default", "604800000", "604800000")

	cfg := kafkaadmin.TopicConfig{Brokers: strings.Join(brokers, ","), Topic: topic, Partitions: 1, Replication: 1,
		Retention: kafkaadmin.DefaultRetention}
	if err := cfg.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	check("default retention", "86400000", "3600000")
	cfg.Retention = 2 * time.Hour
	if err := cfg.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	check("2h", "7200000", "1800000")
	cfg.Retention = 0 // leaves it
	if err := cfg.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	check("left as it was", "7200000", "1800000")
}
