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

// reportSlots bound the reads (reports, people, exports) each credential
// runs at once: a user's session, an API token, a share link. Without
// them anyone holding a share link could keep dozens of exact funnels
// (sample=off) running, each up to the API's 30 s and hundreds of MB of
// ClickHouse's memory, and starve every other user of the server. A read
// past the limit waits up to reportWait for one of its credential's to
// end (the dashboard asks for a dozen reports at once when it opens),
// then is answered 429 with Retry-After. Writes, the login and public
// keys' reads (recently viewed products, asked by every visitor of a
// shop's pages with the shop's one key) are not bounded here.
type reportSlots struct {
	max  int64
	wait time.Duration

	mu sync.Mutex
	// held has a semaphore per credential with reads running or waiting,
	// dropped when its last one ends.
	held map[string]*credentialSlots
}

type credentialSlots struct {
	sem   *semaphore.Weighted
	users int // reads holding or waiting for a slot
}

// reportWait is how long a read waits for a slot of its credential's.
const reportWait = 5 * time.Second

func newReportSlots(n int) *reportSlots {
	if n <= 0 {
		return nil
	}
	return &reportSlots{max: int64(n), wait: reportWait, held: map[string]*credentialSlots{}}
}

// errBusy is the answer to a read that found no slot in time.
var errBusy = errors.New("busy")

// take holds one of key's slots until release is called; errBusy when
// none came free within s.wait, ctx's error when ctx ended first.
func (s *reportSlots) take(ctx context.Context, key string) (release func(), err error) {
	s.mu.Lock()
	c := s.held[key]
	if c == nil {
		c = &credentialSlots{sem: semaphore.NewWeighted(s.max)}
		s.held[key] = c
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

// bounded says whether a route of level l takes a slot: the reads of
// reports and of people.
func bounded(l access.Level) bool { return l == access.Reports || l == access.Read }

// credentialKey names p's slots: the user of a session (a user's logins
// share them), or the credential.
func credentialKey(p *access.Principal) string {
	if p.User != "" {
		return "user\x00" + p.User
	}
	return fmt.Sprintf("%v\x00%s", p.Kind, p.ID)
}

// slotFor takes a slot for the request of p at level l, or answers it:
// 429 with Retry-After when the credential's reads are all running still.
// ok false means the request was answered.
func (a *API) slotFor(w http.ResponseWriter, r *http.Request, p *access.Principal, l access.Level) (release func(), ok bool) {
	if a.slots == nil || !bounded(l) {
		return func() {}, true
	}
	release, err := a.slots.take(r.Context(), credentialKey(p))
	switch {
	case errors.Is(err, errBusy):
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusTooManyRequests, fmt.Errorf("%d reads of this credential are running already (-max-reports): wait for one to end", a.slots.max))
		return nil, false
	case err != nil:
		// The client went away while waiting: nobody reads an answer.
		return nil, false
	}
	return release, true
}
