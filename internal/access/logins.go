package access

import (
	"container/list"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limits on password checks. A failed login takes a token from three
// buckets: the (user name, client address) pair's, the address's and the
// name's; a login succeeds or fails only when all three have one, and a
// success gives its tokens back. So one address guessing at a name is
// slowed to one try every 12 s after 5, and at every name to one every
// 6 s after 20; the name's own bucket, far larger (100, then one a
// second), only bounds guesses spread over many addresses, and an
// attacker at one address never empties it nor the bucket of the rightful
// user's pair. The buckets live in bounded LRU tables (the least recently
// used bucket goes first, never all at once). bcrypt at cost 12 takes a
// core for 0.2 s: at most MaxChecks run at once, and the login beyond is
// refused (ErrBusy) rather than queued.
var (
	PairLimit = Limit{Every: 12 * time.Second, Burst: 5}
	AddrLimit = Limit{Every: 6 * time.Second, Burst: 20}
	NameLimit = Limit{Every: time.Second, Burst: 100}
)

// MaxChecks is how many password checks run at once.
const MaxChecks = 4

// maxBuckets bounds each table of buckets.
const maxBuckets = 10000

// Limit is a token bucket: Burst tries, then one every Every.
type Limit struct {
	Every time.Duration
	Burst int
}

// ErrBusy refuses a login while MaxChecks passwords are being checked.
var ErrBusy = errors.New("too many logins at once: try again in a second")

// Throttled is the error of a login refused by a limit: when to retry.
type Throttled struct{ RetryAfter time.Duration }

func (t *Throttled) Error() string {
	return fmt.Sprintf("%v: retry in %d s", ErrThrottled, int(t.RetryAfter.Seconds()+0.999))
}

func (t *Throttled) Unwrap() error { return ErrThrottled }

type logins struct {
	pair, addr, name *buckets
	checks           chan struct{}
}

func newLogins() *logins {
	return &logins{pair: newBuckets(PairLimit), addr: newBuckets(AddrLimit), name: newBuckets(NameLimit),
		checks: make(chan struct{}, MaxChecks)}
}

// clientKey is the address a limit counts: an IPv6 client by its /64
// (one machine has many), an IPv4 one whole.
func clientKey(a netip.Addr) string {
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// attempt is a login's claim on its buckets.
type attempt struct {
	l     *logins
	pair  string
	rs    []*rate.Reservation
	owned bool
}

// begin reserves a token in each bucket of (name, client) and a slot for
// the password check; it fails with *Throttled or ErrBusy.
func (l *logins) begin(name string, client netip.Addr, now time.Time) (*attempt, error) {
	ck := clientKey(client)
	a := &attempt{l: l, pair: name + "\x00" + ck}
	var wait time.Duration
	for _, r := range []*rate.Reservation{l.pair.reserve(a.pair, now), l.addr.reserve(ck, now), l.name.reserve(name, now)} {
		a.rs = append(a.rs, r)
		if d := r.DelayFrom(now); d > wait {
			wait = d
		}
	}
	if wait > 0 {
		a.cancel(now)
		return nil, &Throttled{RetryAfter: wait}
	}
	select {
	case l.checks <- struct{}{}:
		a.owned = true
		return a, nil
	default:
		a.cancel(now)
		return nil, ErrBusy
	}
}

func (a *attempt) cancel(now time.Time) {
	for _, r := range a.rs {
		r.CancelAt(now)
	}
}

// done ends the check: a failure keeps its tokens taken, a success gives
// them back and forgets the pair's bucket.
func (a *attempt) done(ok bool, now time.Time) {
	if a.owned {
		<-a.l.checks
	}
	if ok {
		a.cancel(now)
		a.l.pair.forget(a.pair)
	}
}

// buckets is an LRU table of token buckets of one Limit.
type buckets struct {
	limit Limit
	mu    sync.Mutex
	order *list.List // of *bucket, most recent first
	byKey map[string]*list.Element
}

type bucket struct {
	key string
	l   *rate.Limiter
}

func newBuckets(l Limit) *buckets {
	return &buckets{limit: l, order: list.New(), byKey: map[string]*list.Element{}}
}

func (b *buckets) reserve(key string, now time.Time) *rate.Reservation {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.byKey[key]
	if ok {
		b.order.MoveToFront(e)
	} else {
		if b.order.Len() >= maxBuckets {
			old := b.order.Back()
			b.order.Remove(old)
			delete(b.byKey, old.Value.(*bucket).key)
		}
		e = b.order.PushFront(&bucket{key: key, l: rate.NewLimiter(rate.Every(b.limit.Every), b.limit.Burst)})
		b.byKey[key] = e
	}
	return e.Value.(*bucket).l.ReserveN(now, 1)
}

func (b *buckets) forget(key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if e, ok := b.byKey[key]; ok {
		b.order.Remove(e)
		delete(b.byKey, key)
	}
}

func (b *buckets) len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.order.Len()
}
