package kafkaout

import (
	"context"
	"net"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	metadataAPI "github.com/segmentio/kafka-go/protocol/metadata"
)

// metaCache answers the kafka-go writer's metadata look-ups from its last
// answer for up to a second. The writer asks for the topic's partitions once
// for every message it writes (kafka-go 0.4), and even from kafka.Transport's
// own cache each answer is a round trip through its connection pool and a
// filtered copy, paid on every hit: it showed in the collector's profiles
// (docs/perf.md, "Kafka").
// Only single-topic metadata requests whose answer has no error are kept;
// everything else goes to the transport.
type metaCache struct {
	next kafka.RoundTripper
	last atomic.Pointer[metaAnswer]
}

type metaAnswer struct {
	topic   string
	auto    bool
	res     kafka.Response
	expires time.Time
}

const metaCacheTTL = time.Second

func (m *metaCache) RoundTrip(ctx context.Context, addr net.Addr, req kafka.Request) (kafka.Response, error) {
	r, ok := req.(*metadataAPI.Request)
	if !ok || len(r.TopicNames) != 1 || r.IncludeClusterAuthorizedOperations || r.IncludeTopicAuthorizedOperations {
		return m.next.RoundTrip(ctx, addr, req)
	}
	now := time.Now()
	if a := m.last.Load(); a != nil && a.topic == r.TopicNames[0] && a.auto == r.AllowAutoTopicCreation && now.Before(a.expires) {
		return a.res, nil
	}
	res, err := m.next.RoundTrip(ctx, addr, req)
	if err != nil {
		return res, err
	}
	if mr, ok := res.(*metadataAPI.Response); ok && len(mr.Topics) == 1 && mr.Topics[0].ErrorCode == 0 && mr.Topics[0].Name == r.TopicNames[0] {
		m.last.Store(&metaAnswer{topic: r.TopicNames[0], auto: r.AllowAutoTopicCreation, res: res, expires: now.Add(metaCacheTTL)})
	}
	return res, nil
}
