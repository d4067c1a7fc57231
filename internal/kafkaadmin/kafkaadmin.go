// Package kafkaadmin creates and checks the topics the system writes (the
// events, the triggers), with their partitions, replication and
// min.insync.replicas, so that a fresh broker or cluster needs no separate
// tooling before the collector and processor run.
package kafkaadmin

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
)

// TopicSpec is how a topic the system creates is laid out and kept.
type TopicSpec struct {
	Partitions int
	// Replication is the number of brokers holding each partition.
	Replication int
	// MinInsync is min.insync.replicas: how many replicas must hold a
	// write before an acks=all producer (the collector's, the triggers')
	// gets its answer. 0 takes MinInsyncFor(Replication).
	MinInsync int
	// Retention is how long the topic keeps records (SetRetention); 0
	// leaves the topic's setting.
	Retention time.Duration
}

// MinInsyncFor is the min.insync.replicas taken when none is given: one
// less than the replication, at least 1. With 3 replicas a write is
// acknowledged once 2 hold it, so one broker can be lost (or restarted)
// without refusing writes or losing an acknowledged one.
func MinInsyncFor(replication int) int { return max(replication-1, 1) }

func (s TopicSpec) minInsync() int {
	if s.MinInsync > 0 {
		return s.MinInsync
	}
	return MinInsyncFor(s.Replication)
}

// Check reports a spec that cannot hold: min.insync.replicas above the
// replication refuses every acks=all write.
func (s TopicSpec) Check() error {
	if s.Partitions < 1 || s.Replication < 1 {
		return fmt.Errorf("kafka topic needs at least 1 partition and 1 replica, got %d and %d", s.Partitions, s.Replication)
	}
	if s.minInsync() > s.Replication {
		return fmt.Errorf("min.insync.replicas %d is above the replication %d: every write would be refused", s.minInsync(), s.Replication)
	}
	return nil
}

// EnsureTopic creates topic with the given partitions and replication, and
// min.insync.replicas from MinInsyncFor, if it does not exist yet (Ensure).
func EnsureTopic(ctx context.Context, brokers []string, topic string, partitions, replication int) error {
	return Ensure(ctx, brokers, topic, TopicSpec{Partitions: partitions, Replication: replication})
}

// Ensure creates topic as spec says on the cluster behind brokers if it
// does not exist yet, and sets its min.insync.replicas and retention on
// every call, on a new topic as on one made before. The partitions and
// replication of an existing topic are left as they are, even when they
// differ: repartitioning moves visitors between partitions, and adding
// replicas is a reassignment, both an operator's decision; a topic with
// fewer replicas than asked is logged, and its min.insync.replicas kept
// within them.
func Ensure(ctx context.Context, brokers []string, topic string, spec TopicSpec) error {
	if err := spec.Check(); err != nil {
		return fmt.Errorf("topic %s: %w", topic, err)
	}
	replicas, err := replication(ctx, brokers, topic)
	if err != nil || replicas == 0 {
		if err := create(ctx, brokers, topic, spec); err != nil {
			return err
		}
		replicas = spec.Replication
	} else if replicas < spec.Replication {
		slog.Warn("kafka topic has fewer replicas than asked; add them with a partition reassignment",
			"topic", topic, "replicas", replicas, "asked", spec.Replication)
	}
	insync := min(spec.minInsync(), replicas)
	configs := []kafka.IncrementalAlterConfigsRequestConfig{
		{Name: "min.insync.replicas", Value: strconv.Itoa(insync), ConfigOperation: kafka.ConfigOperationSet},
	}
	if spec.Retention > 0 {
		configs = append(configs, retentionConfigs(spec.Retention)...)
	}
	return alterConfigs(ctx, brokers, topic, configs)
}

func create(ctx context.Context, brokers []string, topic string, spec TopicSpec) error {
	conn, err := controller(ctx, brokers)
	if err != nil {
		return err
	}
	defer conn.Close()
	// kafka-go's CreateTopics passes over "already exists", which covers a
	// concurrent creator too; either way the wait below sees the partitions.
	err = conn.CreateTopics(kafka.TopicConfig{Topic: topic, NumPartitions: spec.Partitions, ReplicationFactor: spec.Replication,
		ConfigEntries: []kafka.ConfigEntry{{ConfigName: "min.insync.replicas", ConfigValue: strconv.Itoa(spec.minInsync())}}})
	if err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
		return fmt.Errorf("create topic %s (%d partitions, %d replicas): %w", topic, spec.Partitions, spec.Replication, err)
	}
	// Metadata reaches the brokers shortly after creation; wait until every
	// partition has a leader so that a first produce does not fail.
	deadline := time.Now().Add(15 * time.Second)
	for {
		n, err := Partitions(ctx, brokers, topic)
		if err == nil && n > 0 && n >= spec.Partitions {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("topic %s has %d of %d partition leaders after creation: %v", topic, n, spec.Partitions, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// replication returns the fewest replicas of a partition of topic, 0 when
// the topic has no partition with a leader (or does not exist).
func replication(ctx context.Context, brokers []string, topic string) (int, error) {
	conn, err := dialAny(ctx, brokers)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	parts, err := conn.ReadPartitions(topic)
	if err != nil {
		return 0, fmt.Errorf("read partitions of %s: %w", topic, err)
	}
	n, led := 0, false
	for _, p := range parts {
		if p.Leader.Host != "" && p.Error == nil {
			led = true
		}
		if n == 0 || len(p.Replicas) < n {
			n = len(p.Replicas)
		}
	}
	if !led {
		return 0, nil
	}
	return n, nil
}

// SegmentFor is how long a segment of a topic kept for retention stays
// open: a quarter of the retention, at most an hour. Kafka deletes a
// segment once its newest record is older than the retention, so a record
// stays at most retention + segment (plus the broker's check interval,
// log.retention.check.interval.ms, 5 minutes by default) after it was
// written.
func SegmentFor(retention time.Duration) time.Duration {
	return min(retention/4, time.Hour)
}

// SetRetention sets how long topic keeps its records (retention.ms, and
// segment.ms from SegmentFor), on a new topic as on one made before: the
// bound holds whoever created it. Zero leaves the topic as it is.
func SetRetention(ctx context.Context, brokers []string, topic string, retention time.Duration) error {
	if retention <= 0 {
		return nil
	}
	return alterConfigs(ctx, brokers, topic, retentionConfigs(retention))
}

func retentionConfigs(retention time.Duration) []kafka.IncrementalAlterConfigsRequestConfig {
	ms := func(d time.Duration) string { return strconv.FormatInt(max(d.Milliseconds(), 1), 10) }
	return []kafka.IncrementalAlterConfigsRequestConfig{
		{Name: "retention.ms", Value: ms(retention), ConfigOperation: kafka.ConfigOperationSet},
		{Name: "segment.ms", Value: ms(SegmentFor(retention)), ConfigOperation: kafka.ConfigOperationSet},
	}
}

// alterConfigs sets configs on topic, leaving its other settings.
func alterConfigs(ctx context.Context, brokers []string, topic string, configs []kafka.IncrementalAlterConfigsRequestConfig) error {
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Transport: &kafka.Transport{}}
	res, err := client.IncrementalAlterConfigs(ctx, &kafka.IncrementalAlterConfigsRequest{
		Resources: []kafka.IncrementalAlterConfigsRequestResource{{
			ResourceType: kafka.ResourceTypeTopic, ResourceName: topic, Configs: configs,
		}},
	})
	if err == nil && len(res.Resources) == 1 {
		err = res.Resources[0].Error
	}
	if err != nil {
		names := make([]string, len(configs))
		for i, c := range configs {
			names[i] = c.Name
		}
		return fmt.Errorf("set %s of topic %s: %w", strings.Join(names, ", "), topic, err)
	}
	return nil
}

// TopicConfigs returns the values of names in topic's configuration, as
// the broker has them (its own or its defaults).
func TopicConfigs(ctx context.Context, brokers []string, topic string, names ...string) (map[string]string, error) {
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Transport: &kafka.Transport{}}
	res, err := client.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{
		Resources: []kafka.DescribeConfigRequestResource{{ResourceType: kafka.ResourceTypeTopic, ResourceName: topic, ConfigNames: names}},
	})
	if err == nil && len(res.Resources) == 1 {
		err = res.Resources[0].Error
	}
	if err != nil {
		return nil, fmt.Errorf("read the configuration of topic %s: %w", topic, err)
	}
	out := map[string]string{}
	for _, e := range res.Resources[0].ConfigEntries {
		out[e.ConfigName] = e.ConfigValue
	}
	return out, nil
}

// DeleteTopic removes topic; tests use it to leave the broker as they found it.
func DeleteTopic(ctx context.Context, brokers []string, topic string) error {
	conn, err := controller(ctx, brokers)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.DeleteTopics(topic); err != nil {
		return fmt.Errorf("delete topic %s: %w", topic, err)
	}
	return nil
}

// Partitions returns how many partitions with a leader topic has.
func Partitions(ctx context.Context, brokers []string, topic string) (int, error) {
	conn, err := dialAny(ctx, brokers)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	parts, err := conn.ReadPartitions(topic)
	if err != nil {
		return 0, fmt.Errorf("read partitions of %s: %w", topic, err)
	}
	n := 0
	for _, p := range parts {
		if p.Leader.Host != "" && p.Error == nil {
			n++
		}
	}
	return n, nil
}

// WaitAssigned waits until group is stable with members members holding
// partitions of its topics: until then, what is produced waits in Kafka.
func WaitAssigned(ctx context.Context, brokers []string, group string, members int) error {
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Transport: &kafka.Transport{}}
	for {
		res, err := client.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{group}})
		if err == nil && len(res.Groups) == 1 && res.Groups[0].GroupState == "Stable" {
			with := 0
			for _, m := range res.Groups[0].Members {
				n := 0
				for _, tp := range m.MemberAssignments.Topics {
					n += len(tp.Partitions)
				}
				if n > 0 {
					with++
				}
			}
			if with == members {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("group %s did not settle with %d members holding partitions: %w", group, members, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Ping reports whether one of brokers answers a metadata request.
func Ping(ctx context.Context, brokers []string) error {
	conn, err := dialAny(ctx, brokers)
	if err != nil {
		return err
	}
	defer conn.Close()
	_, err = conn.Brokers()
	return err
}

func dialAny(ctx context.Context, brokers []string) (*kafka.Conn, error) {
	var last error
	for _, b := range brokers {
		d := kafka.Dialer{Timeout: 3 * time.Second}
		conn, err := d.DialContext(ctx, "tcp", b)
		if err == nil {
			return conn, nil
		}
		last = err
	}
	return nil, fmt.Errorf("dial kafka %v: %w", brokers, last)
}

func controller(ctx context.Context, brokers []string) (*kafka.Conn, error) {
	conn, err := dialAny(ctx, brokers)
	if err != nil {
		return nil, err
	}
	c, err := conn.Controller()
	conn.Close()
	if err != nil {
		return nil, fmt.Errorf("find kafka controller: %w", err)
	}
	d := kafka.Dialer{Timeout: 3 * time.Second}
	cc, err := d.DialContext(ctx, "tcp", net.JoinHostPort(c.Host, strconv.Itoa(c.Port)))
	if err != nil {
		return nil, fmt.Errorf("dial kafka controller: %w", err)
	}
	return cc, nil
}

// TopicConfig is the Kafka configuration the collector and the processor
// share: where the brokers are, the events topic, and how to create it.
// Declared once so that both programs agree on names and defaults.
type TopicConfig struct {
	Brokers     string // comma-separated host:port list
	Topic       string
	Partitions  int
	Replication int
	// MinInsync is the topics' min.insync.replicas (TopicSpec.MinInsync).
	MinInsync int
	// Retention is how long the topic keeps events (SetRetention): they
	// hold personal data, which an erasure cannot reach inside Kafka.
	Retention time.Duration
}

// DefaultRetention keeps events a day: a processor stopped longer than
// that loses the oldest.
const DefaultRetention = 24 * time.Hour

// RegisterFlags declares -kafka-brokers, -kafka-topic, -kafka-partitions and
// -kafka-replication on fs.
func (c *TopicConfig) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Brokers, "kafka-brokers", "127.0.0.1:9092", "comma-separated Kafka bootstrap brokers")
	fs.StringVar(&c.Topic, "kafka-topic", "footfall-events", "Kafka topic of the events")
	fs.IntVar(&c.Partitions, "kafka-partitions", 6, "partitions of the topic when it has to be created")
	fs.IntVar(&c.Replication, "kafka-replication", 1, "replication factor of the topics the system creates (events, triggers) when it has to create them; 3 on a cluster of 3 brokers or more")
	fs.IntVar(&c.MinInsync, "kafka-min-insync-replicas", 0, "min.insync.replicas of those topics, set on every start: replicas that must hold a write before it is acknowledged (acks=all); 0 is the replication less one, at least 1 (2 with 3 replicas)")
	fs.DurationVar(&c.Retention, "kafka-retention", DefaultRetention, "how long the topic keeps events (retention.ms; segment.ms a quarter of it, at most 1h), set on every start; a processor stopped longer loses the oldest; 0 leaves the topic's setting")
}

// BrokerList splits Brokers, dropping blanks.
func (c TopicConfig) BrokerList() []string {
	var out []string
	for _, b := range strings.Split(c.Brokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}

// Spec is how the events topic is laid out and kept; the other topics
// take its replication and min.insync.replicas.
func (c TopicConfig) Spec() TopicSpec {
	return TopicSpec{Partitions: c.Partitions, Replication: c.Replication, MinInsync: c.MinInsync, Retention: c.Retention}
}

// Ensure creates the events topic if it does not exist, and sets its
// min.insync.replicas and retention (Ensure).
func (c TopicConfig) Ensure(ctx context.Context) error {
	return Ensure(ctx, c.BrokerList(), c.Topic, c.Spec())
}
