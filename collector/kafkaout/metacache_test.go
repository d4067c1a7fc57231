package kafkaout

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	metadataAPI "github.com/segmentio/kafka-go/protocol/metadata"
	produceAPI "github.com/segmentio/kafka-go/protocol/produce"
)

type countingTransport struct {
	calls int
	code  int16
}

func (c *countingTransport) RoundTrip(_ context.Context, _ net.Addr, req kafka.Request) (kafka.Response, error) {
	c.calls++
	if r, ok := req.(*metadataAPI.Request); ok {
		res := &metadataAPI.Response{}
		for _, t := range r.TopicNames {
			res.Topics = append(res.Topics, metadataAPI.ResponseTopic{Name: t, ErrorCode: c.code, Partitions: make([]metadataAPI.ResponsePartition, 6)})
		}
		return res, nil
	}
	return &produceAPI.Response{}, nil
}

func TestMetaCache(t *testing.T) {
	ctx := context.Background()
	next := &countingTransport{}
	m := &metaCache{next: next}
	meta := func(topics ...string) *metadataAPI.Response {
		t.Helper()
		res, err := m.RoundTrip(ctx, nil, &metadataAPI.Request{TopicNames: topics, AllowAutoTopicCreation: true})
		if err != nil {
			t.Fatal(err)
		}
		return res.(*metadataAPI.Response)
	}
	for i := 0; i < 1000; i++ {
		if got := meta("hits"); len(got.Topics) != 1 || len(got.Topics[0].Partitions) != 6 {
			t.Fatalf("answer %+v", got)
		}
	}
	if next.calls != 1 {
		t.Errorf("1000 look-ups of one topic reached the transport %d times, want 1", next.calls)
	}
	meta("other")
	meta("hits", "other")
	m.RoundTrip(ctx, nil, &produceAPI.Request{})
	if next.calls != 4 {
		t.Errorf("another topic, two topics and a produce made %d transport calls in all, want 4", next.calls)
	}

	// An answer expires, and an error is never kept.
	m.last.Load().expires = time.Now()
	meta("other")
	if next.calls != 5 {
		t.Errorf("an expired answer was used (%d calls)", next.calls)
	}
	next.code = 3 // unknown topic
	meta("new")
	meta("new")
	if next.calls != 7 {
		t.Errorf("an error answer was kept (%d calls, want 7)", next.calls)
	}
}
