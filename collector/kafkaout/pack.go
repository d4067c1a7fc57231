package kafkaout

import (
	"sync/atomic"

	"github.com/segmentio/kafka-go"

	"footfall/internal/event"
)

// partitioner is the writer's balancer: kafka-go's murmur2, the Java
// client's, so keys land where its consumers expect. It also notes the
// topic's partition count, which packer needs.
type partitioner struct {
	kafka.Murmur2Balancer
	n atomic.Int32
}

func (b *partitioner) Balance(msg kafka.Message, partitions ...int) int {
	b.n.Store(int32(len(partitions)))
	return b.Murmur2Balancer.Balance(msg, partitions...)
}

func (b *partitioner) partitions() int { return int(b.n.Load()) }

// packer turns a batch's messages into one record per partition, each
// holding the events that would have gone to that partition one by one
// (event.StartPack). The processor's Kafka reader spends about the same on
// a record whatever its size, so one record per batch and partition costs
// it less per event than one per event. A pack's key is its
// first event's, so the writer's murmur2 puts it where that event, and so
// every event in it, would have gone; a visitor's events stay in one
// partition. If the partition count changes between grouping and writing,
// a pack lands where its first event now belongs, and for that one batch
// the others may not.
//
// Each writer goroutine has its own packer; it reuses its memory.
type packer struct {
	buf    []byte
	groups [][]int32 // per partition, then one for keyless messages: message indexes
	seq    []int     // 0..n-1, the partition list the balancer chooses from
	spans  []span
	msgs   []kafka.Message
	counts []int // events per packed message
	bal    kafka.Murmur2Balancer
}

type span struct {
	key        []byte
	start, end int
	events     int
}

// pack groups msgs for a topic of n partitions into packs of at most
// maxBytes each. The messages it returns point into the packer's memory
// and stay valid until the next call; counts gives each one's events.
func (k *packer) pack(msgs []kafka.Message, n, maxBytes int) (packed []kafka.Message, counts []int) {
	for len(k.seq) < n {
		k.seq = append(k.seq, len(k.seq))
	}
	for len(k.groups) < n+1 {
		k.groups = append(k.groups, nil)
	}
	for g := range k.groups {
		k.groups[g] = k.groups[g][:0]
	}
	for i := range msgs {
		g := n // nil key: the balancer picks a partition at random
		if msgs[i].Key != nil {
			g = k.bal.Balance(kafka.Message{Key: msgs[i].Key}, k.seq[:n]...)
		}
		k.groups[g] = append(k.groups[g], int32(i))
	}
	k.buf, k.spans = k.buf[:0], k.spans[:0]
	for _, group := range k.groups[:n+1] {
		cur := span{start: -1}
		for _, i := range group {
			v := msgs[i].Value
			if cur.start >= 0 && len(k.buf)-cur.start+event.PackedSize(len(v)) > maxBytes {
				cur.end = len(k.buf)
				k.spans = append(k.spans, cur)
				cur.start = -1
			}
			if cur.start < 0 {
				cur = span{key: msgs[i].Key, start: len(k.buf)}
				k.buf = event.StartPack(k.buf)
			}
			k.buf = event.AppendPacked(k.buf, v)
			cur.events++
		}
		if cur.start >= 0 {
			cur.end = len(k.buf)
			k.spans = append(k.spans, cur)
		}
	}
	// Messages are made last: appending may have moved buf.
	k.msgs, k.counts = k.msgs[:0], k.counts[:0]
	for _, s := range k.spans {
		k.msgs = append(k.msgs, kafka.Message{Key: s.key, Value: k.buf[s.start:s.end:s.end]})
		k.counts = append(k.counts, s.events)
	}
	clear(k.spans) // drop the keys' references into the batch
	return k.msgs, k.counts
}
