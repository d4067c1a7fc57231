// Package kafkaadmin creates and checks the events topic, so that a fresh
// broker needs no separate tooling before the collector and processor run.
package kafkaadmin

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
)

// EnsureTopic creates topic with the given partitions on the cluster behind
// brokers if it does not exist yet. An existing topic is left as it is, even
// with another partition count: repartitioning moves visitors between
// partitions and is an operator's decision.
func EnsureTopic(ctx context.Context, brokers []string, topic string, partitions, replication int) error {
	if n, err := Partitions(ctx, brokers, topic); err == nil && n > 0 {
		return nil
	}
	conn, err := controller(ctx, brokers)
	if err != nil {
		return err
	}
	defer conn.Close()
	// kafka-go's CreateTopics passes over "already exists", which covers a
	// concurrent creator too; either way the wait below sees the partitions.
	err = conn.CreateTopics(kafka.TopicConfig{Topic: topic, NumPartitions: partitions, ReplicationFactor: replication})
	if err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	// Metadata reaches the brokers shortly after creation; wait until every
	// partition has a leader so that a first produce does not fail.
	deadline := time.Now().Add(15 * time.Second)
	for {
		n, err := Partitions(ctx, brokers, topic)
		if err == nil && n > 0 && n >= partitions {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("topic %s has %d of %d partition leaders after creation: %v", topic, n, partitions, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
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
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Transport: &kafka.Transport{}}
	ms := func(d time.Duration) string { return strconv.FormatInt(max(d.Milliseconds(), 1), 10) }
	res, err := client.IncrementalAlterConfigs(ctx, &kafka.IncrementalAlterConfigsRequest{
		Resources: []kafka.IncrementalAlterConfigsRequestResource{{
			ResourceType: kafka.ResourceTypeTopic, ResourceName: topic,
			Configs: []kafka.IncrementalAlterConfigsRequestConfig{
				{Name: "retention.ms", Value: ms(retention), ConfigOperation: kafka.ConfigOperationSet},
				{Name: "segment.ms", Value: ms(SegmentFor(retention)), ConfigOperation: kafka.ConfigOperationSet},
			},
		}},
	})
	if err == nil && len(res.Resources) == 1 {
		err = res.Resources[0].Error
	}
	if err != nil {
		return fmt.Errorf("set the retention of topic %s: %w", topic, err)
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
	fs.IntVar(&c.Replication, "kafka-replication", 1, "replication factor of the topic when it has to be created")
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

// Ensure creates the topic if it does not exist, and sets its retention.
func (c TopicConfig) Ensure(ctx context.Context) error {
	if err := EnsureTopic(ctx, c.BrokerList(), c.Topic, c.Partitions, c.Replication); err != nil {
		return err
	}
	return SetRetention(ctx, c.BrokerList(), c.Topic, c.Retention)
}
