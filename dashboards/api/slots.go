package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"

	"footfall/internal/access"
)

// reportSlots bound the reads of reports and people (the routes of the
// Reports and Read levels but an admin's) each credential runs at once:
// a user's sessions together, an API token, a share link. Without them
// anyone holding a share link could keep dozens of exact funnels
// (sample=off) running, each up to the API's 30 s and hundreds of MB of
// ClickHouse's memory. A read past the limit waits its turn, up to
// reportWait (the API's own budget for a report): the dashboard asks for
// 17 to 28 reads at once when it opens, all at once over HTTP/2, and they
// must all be answered. What a credential may have waiting is bounded too
// (maxWaiting): one more is answered 429 at once, with Retry-After, as is
// a read that waited reportWait in vain. The bound is per credential, not
// the server's: ten share links run ten times as many.
type reportSlots struct {
	max, maxWaiting int
	wait            time.Duration

	mu sync.Mutex
	// held has a semaphore per credential with reads running or waiting,
	// dropped when its last one ends.
	held map[string]*credentialSlots
}

type credentialSlots struct {
	sem   *semaphore.Weighted
	users int // reads holding or waiting for a slot
}

// reportWait is how long a read waits for a slot of its credential's: as
// long as the API gives a report to run.
const reportWait = 30 * time.Second

// waitingPerSlot is how many reads a credential may have waiting for a
// slot, per slot it has: a page of the dashboard that reads a profile per
// row (50 after an import) still waits rather than fails.
const waitingPerSlot = 8

func newReportSlots(n int) *reportSlots {
	if n <= 0 {
		return nil
	}
	return &reportSlots{max: n, maxWaiting: waitingPerSlot * n, wait: reportWait, held: map[string]*credentialSlots{}}
}

// errBusy is the answer to a read that found no slot in time, or too
// many of its credential's waiting.
var errBusy = errors.New("busy")

// take holds one of key's slots until release is called; errBusy when
// none came free within s.wait or key has s.maxWaiting reads waiting
// already, ctx's error when ctx ended first.
func (s *reportSlots) take(ctx context.Context, key string) (release func(), err error) {
	s.mu.Lock()
	c := s.held[key]
	if c == nil {
		c = &credentialSlots{sem: semaphore.NewWeighted(int64(s.max))}
		s.held[key] = c
	}
	if c.users >= s.max+s.maxWaiting {
		s.mu.Unlock()
		return nil, errBusy
	}
	c.users++
	s.mu.Unlock()
	wctx, cancel := context.WithTimeout(ctx, s.wait)
	err = c.sem.Acquire(wctx, 1)
	cancel()
	if err != nil {
		s.leave(key, c)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, errBusy
	}
	return func() {
		c.sem.Release(1)
		s.leave(key, c)
	}, nil
}

func (s *reportSlots) leave(key string, c *credentialSlots) {
	s.mu.Lock()
	if c.users--; c.users == 0 {
		delete(s.held, key)
	}
	s.mu.Unlock()
}

// bounded says whether a route of level l takes a report slot: the reads
// of reports and of people. Not a public key's (recently viewed products,
// asked by every visitor of a shop's pages with the shop's one key),
// nor an editor's reads and changes (Write), nor an admin's (adminOnly).
func bounded(l access.Level) bool { return l == access.Reports || l == access.Read }

// credentialKey names p's slots: the user of a session (a user's logins
// share them), or the credential.
func credentialKey(p *access.Principal) string {
	if p.User != "" {
		return "user\x00" + p.User
	}
	return fmt.Sprintf("%v\x00%s", p.Kind, p.ID)
}

// slotFor takes a slot for the request of p when slot is set, or answers
// it: 429 with Retry-After when the credential's reads are all running
// still. ok false means the request was answered (or its client left).
func (a *API) slotFor(w http.ResponseWriter, r *http.Request, p *access.Principal, slot bool) (release func(), ok bool) {
	if a.slots == nil || !slot {
		return func() {}, true
	}
	release, err := a.slots.take(r.Context(), credentialKey(p))
	switch {
	case errors.Is(err, errBusy):
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusTooManyRequests, fmt.Errorf("this credential has %d reads running and more waiting (-max-reports): try again when they end", a.slots.max))
		return nil, false
	case err != nil:
		// The client went away while waiting: nobody reads an answer.
		return nil, false
	}
	return release, true
}
