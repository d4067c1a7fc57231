package kafkaout

import (
	"bytes"
	"testing"

	"github.com/segmentio/kafka-go"

	"footfall/internal/event"
)

// FuzzPack: whatever a batch holds, the packs the collector makes of it
// unpack to every event exactly once, each in its partition's pack and in
// the batch's order there, no pack over the size limit unless one event
// alone is.
func FuzzPack(f *testing.F) {
	f.Add([]byte("visitor-1\x00event a\x00\x00keyless\x00visitor-2\x00event b"), uint8(6), uint16(64))
	f.Add([]byte(""), uint8(1), uint16(1))
	f.Add(bytes.Repeat([]byte("k\x00v\x00"), 300), uint8(3), uint16(200))
	f.Fuzz(func(t *testing.T, raw []byte, partitions uint8, maxBytes uint16) {
		n := int(partitions%16) + 1
		// raw is key\x00value pairs; an empty key is no key.
		parts := bytes.Split(raw, []byte{0})
		var msgs []kafka.Message
		for i := 0; i+1 < len(parts); i += 2 {
			m := kafka.Message{Value: parts[i+1]}
			if len(parts[i]) > 0 {
				m.Key = parts[i]
			}
			msgs = append(msgs, m)
		}
		var k packer
		packed, counts := k.pack(msgs, n, int(maxBytes))
		seen := map[int][]string{} // per partition (n for keyless), in order
		for i, m := range packed {
			var got []string
			if _, err := event.Unpack(m.Value, func(enc []byte) { got = append(got, string(enc)) }); err != nil {
				t.Fatalf("pack %d does not unpack: %v", i, err)
			}
			if len(got) != counts[i] || len(got) == 0 {
				t.Fatalf("pack %d holds %d events, counted %d", i, len(got), counts[i])
			}
			if len(m.Value) > int(maxBytes) && len(got) > 1 {
				t.Fatalf("pack %d of %d events has %d bytes, over %d", i, len(got), len(m.Value), maxBytes)
			}
			p := n
			if m.Key != nil {
				p = where(m.Key, n)
			}
			seen[p] = append(seen[p], got...)
		}
		want := map[int][]string{}
		for _, m := range msgs {
			p := n
			if m.Key != nil {
				p = where(m.Key, n)
			}
			want[p] = append(want[p], string(m.Value))
		}
		for p := 0; p <= n; p++ {
			if len(seen[p]) != len(want[p]) {
				t.Fatalf("partition %d: %d events packed, %d sent", p, len(seen[p]), len(want[p]))
			}
			for i := range want[p] {
				if seen[p][i] != want[p][i] {
					t.Fatalf("partition %d, event %d: %q, want %q", p, i, seen[p][i], want[p][i])
				}
			}
		}
	})
}
