package beacon

import (
	"fmt"
	"testing"

	"footfall/internal/useragent"
)

func TestBotCacheAgreesWithRules(t *testing.T) {
	c := newBotCache()
	uas := []string{chromeUA, "Googlebot/2.1", "", "curl/8", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) Safari/604.1"}
	// Many distinct agents force collisions; answers must not change.
	for i := 0; i < 20000; i++ {
		uas = append(uas, fmt.Sprintf("Agent%d/1.0", i), fmt.Sprintf("crawler-%d", i))
	}
	for round := 0; round < 2; round++ {
		for _, ua := range uas {
			if got, want := c.isBot([]byte(ua)), useragent.IsBot([]byte(ua)); got != want {
				t.Fatalf("round %d: isBot(%q) = %v, rules say %v", round, ua, got, want)
			}
		}
	}
}

func BenchmarkBotCache(b *testing.B) {
	c := newBotCache()
	ua := []byte(chromeUA)
	b.ReportAllocs()
	for b.Loop() {
		c.isBot(ua)
	}
}

func BenchmarkIsBotRules(b *testing.B) {
	ua := []byte(chromeUA)
	b.ReportAllocs()
	for b.Loop() {
		useragent.IsBot(ua)
	}
}
