package beacon

import (
	"hash/maphash"
	"sync/atomic"

	"footfall/internal/useragent"
)

// botCache remembers useragent.IsBot for recently seen user agents. Real
// traffic has few distinct user agents, and the rule scan is the costliest
// step of a hit. Each slot is one atomic word, the user agent's hash with
// its lowest bit replaced by the answer, so lookups take no lock and no
// allocation; a collision only costs a fresh scan.
type botCache struct {
	seed  maphash.Seed
	slots [4096]atomic.Uint64
}

func newBotCache() *botCache { return &botCache{seed: maphash.MakeSeed()} }

func (c *botCache) isBot(ua []byte) bool {
	h := maphash.Bytes(c.seed, ua) | 1 // never 0: 0 marks an empty slot
	slot := &c.slots[h%uint64(len(c.slots))]
	if v := slot.Load(); v|1 == h {
		return v&1 == 0
	}
	bot := useragent.IsBot(ua)
	v := h
	if bot {
		v &^= 1
	}
	slot.Store(v)
	return bot
}
