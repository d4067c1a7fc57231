package chstore

import (
	"context"
	"fmt"
	"time"

	"footfall/internal/chsql"
)

// Rejected is a Kafka message that did not decode (or an event kept
// aside, Partition and Offset then zero).
type Rejected struct {
	Topic     string
	Partition int
	Offset    int64
	Err       string
	Payload   []byte
}

var (
	insertRejected = chsql.New("chstore.insert_rejected", `INSERT INTO events_rejected (time, topic, kafka_partition, kafka_offset, error, payload)`)
	// qRejectedStored: which of a batch's messages are kept already, by
	// where they were in Kafka and what they hold (a pack's unreadable
	// entries share their record's offset; a topic made again starts its
	// offsets again).
	qRejectedStored = chsql.New("chstore.rejected_stored", `SELECT topic, kafka_partition, kafka_offset, payload FROM events_rejected
WHERE topic IN @topics AND kafka_offset IN @offsets`)
)

// rejectedKey names a kept message: where it was in Kafka, and its bytes.
type rejectedKey struct {
	topic     string
	partition int32
	offset    int64
	payload   string
}

// InsertRejected keeps undecodable messages whole, each once: a message
// read again (a replay of the topic's offsets, a new consumer group, a
// batch written again after its answer was lost) is not stored a second
// time.
func (s *Store) InsertRejected(ctx context.Context, rej []Rejected) error {
	if len(rej) == 0 {
		return nil
	}
	stored, err := s.rejectedStored(ctx, rej)
	if err != nil {
		return err
	}
	b, err := s.db.PrepareBatch(ctx, insertRejected)
	if err != nil {
		return fmt.Errorf("prepare insert of %d rejected messages: %w", len(rej), err)
	}
	defer b.Abort()
	now := time.Now().UTC()
	n := 0
	for _, r := range rej {
		k := rejectedKey{r.Topic, int32(r.Partition), r.Offset, string(r.Payload)}
		if stored[k] {
			continue
		}
		stored[k] = true // once within the batch too
		if err := b.Append(now, r.Topic, int32(r.Partition), r.Offset, r.Err, string(r.Payload)); err != nil {
			return fmt.Errorf("append rejected message: %w", err)
		}
		n++
	}
	if n == 0 {
		return nil
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("insert %d rejected messages: %w", n, err)
	}
	return nil
}

// rejectedStored reads which of rej are kept already.
func (s *Store) rejectedStored(ctx context.Context, rej []Rejected) (map[rejectedKey]bool, error) {
	var topics chsql.Set[string]
	var offsets chsql.Set[int64]
	seenTopic, seenOffset := map[string]bool{}, map[int64]bool{}
	for _, r := range rej {
		if !seenTopic[r.Topic] {
			seenTopic[r.Topic] = true
			topics = append(topics, r.Topic)
		}
		if !seenOffset[r.Offset] {
			seenOffset[r.Offset] = true
			offsets = append(offsets, r.Offset)
		}
	}
	rows, err := s.db.Query(ctx, qRejectedStored, chsql.Args{"topics": topics, "offsets": offsets})
	if err != nil {
		return nil, fmt.Errorf("look up %d rejected messages: %w", len(rej), err)
	}
	defer rows.Close()
	out := map[rejectedKey]bool{}
	for rows.Next() {
		var k rejectedKey
		if err := rows.Scan(&k.topic, &k.partition, &k.offset, &k.payload); err != nil {
			return nil, fmt.Errorf("read rejected message: %w", err)
		}
		out[k] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("look up rejected messages: %w", err)
	}
	return out, nil
}
