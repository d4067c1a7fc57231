package chaos

import (
	"context"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
)

// Lag is how many records of topic group has not committed yet, over all
// partitions.
func Lag(ctx context.Context, brokers []string, topic, group string, partitions int) (int64, error) {
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 5 * time.Second}
	parts := make([]int, partitions)
	last := make([]kafka.OffsetRequest, partitions)
	for p := range parts {
		parts[p] = p
		last[p] = kafka.LastOffsetOf(p)
	}
	committed, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: parts}})
	if err != nil {
		return 0, fmt.Errorf("committed offsets of %s: %w", group, err)
	}
	if committed.Error != nil {
		return 0, fmt.Errorf("committed offsets of %s: %w", group, committed.Error)
	}
	ends, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: last}})
	if err != nil {
		return 0, fmt.Errorf("end offsets of %s: %w", topic, err)
	}
	at := map[int]int64{}
	for _, p := range committed.Topics[topic] {
		if p.Error != nil {
			return 0, p.Error
		}
		at[p.Partition] = max(p.CommittedOffset, 0)
	}
	var lag int64
	for _, p := range ends.Topics[topic] {
		if p.Error != nil {
			return 0, p.Error
		}
		lag += max(p.LastOffset-at[p.Partition], 0)
	}
	return lag, nil
}
