package kafkaadmin_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"footfall/internal/kafkaadmin"
	"footfall/tests/stacktest"
)

// TestMinInsync: Ensure sets min.insync.replicas on the topic it creates
// and on one made before with the broker's default, kept within the
// replicas the topic has; a spec that would refuse every write is an
// error. (Replication 3 and min.insync 2 on three brokers: make
// test-kafka-cluster.)
func TestMinInsync(t *testing.T) {
	if got := []int{kafkaadmin.MinInsyncFor(1), kafkaadmin.MinInsyncFor(2), kafkaadmin.MinInsyncFor(3), kafkaadmin.MinInsyncFor(5)}; got[0] != 1 || got[1] != 1 || got[2] != 2 || got[3] != 4 {
		t.Errorf("MinInsyncFor(1, 2, 3, 5) = %v, want 1 1 2 4", got)
	}
	if err := (kafkaadmin.TopicSpec{Partitions: 1, Replication: 3, MinInsync: 4}).Check(); err == nil {
		t.Error("min.insync.replicas 4 of 3 replicas accepted")
	}
	brokers := stacktest.Brokers(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	check := func(topic, want string) {
		t.Helper()
		got, err := kafkaadmin.TopicConfigs(ctx, brokers, topic, "min.insync.replicas")
		if err != nil {
			t.Fatal(err)
		}
		if got["min.insync.replicas"] != want {
			t.Errorf("topic %s: min.insync.replicas %q, want %s", topic, got["min.insync.replicas"], want)
		}
	}
	made := stacktest.Name(t, "made")
	t.Cleanup(func() { kafkaadmin.DeleteTopic(context.Background(), brokers, made) })
	if err := kafkaadmin.Ensure(ctx, brokers, made, kafkaadmin.TopicSpec{Partitions: 2, Replication: 1}); err != nil {
		t.Fatal(err)
	}
	check(made, "1")
	if n, err := kafkaadmin.Partitions(ctx, brokers, made); err != nil || n != 2 {
		t.Errorf("partitions %d (%v), want 2", n, err)
	}

	// Asking for 2 of a topic that has one replica (one broker here)
	// keeps its writes possible: 1.
	cfg := kafkaadmin.TopicConfig{Brokers: strings.Join(brokers, ","), Topic: made, Partitions: 2, Replication: 3, MinInsync: 2}
	if err := cfg.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	check(made, "1")
	if err := (kafkaadmin.TopicConfig{Brokers: cfg.Brokers, Topic: made, Partitions: 2, Replication: 1, MinInsync: 2}).Ensure(ctx); err == nil {
		t.Error("min.insync.replicas 2 of 1 replica accepted")
	}
}
