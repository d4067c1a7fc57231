package access

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"
)

// TestLoginLimits: failures at one address throttle that address (per
// name, then at all), never the same name from another address; a
// success gives its tokens back; the tables evict one bucket at a time,
// never all; the password checks running at once are bounded.
func TestLoginLimits(t *testing.T) {
	l := newLogins()
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	attacker, owner := netip.MustParseAddr("198.51.100.7"), netip.MustParseAddr("203.0.113.9")
	fail := func(name string, from netip.Addr) error {
		a, err := l.begin(name, from, now)
		if err == nil {
			a.done(false, now)
		}
		return err
	}
	for i := 0; i < PairLimit.Burst; i++ {
		if err := fail("admin", attacker); err != nil {
			t.Fatalf("try %d: %v", i, err)
		}
	}
	var th *Throttled
	if err := fail("admin", attacker); !errors.As(err, &th) || th.RetryAfter <= 0 || th.RetryAfter > PairLimit.Every {
		t.Fatalf("6th wrong password from one address: %v, want throttled with a retry within %v", err, PairLimit.Every)
	}
	// The rightful admin, elsewhere, is not locked out, and succeeds.
	a, err := l.begin("admin", owner, now)
	if err != nil {
		t.Fatalf("admin from another address after the attacker's failures: %v", err)
	}
	a.done(true, now)
	// The attacker moves on to other names: the address's bucket stops it.
	n := 0
	for ; n < 100; n++ {
		if fail(fmt.Sprintf("user%d", n), attacker) != nil {
			break
		}
	}
	if n != AddrLimit.Burst-PairLimit.Burst {
		t.Errorf("other names from the throttled address: %d tries, want %d", n, AddrLimit.Burst-PairLimit.Burst)
	}
	// Ten thousand other clients' buckets do not free the attacker.
	for i := 0; i < maxBuckets-1; i++ {
		a, err := l.begin(fmt.Sprintf("n%d", i), netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), now)
		if err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		a.done(false, now)
	}
	if err := fail("admin", attacker); !errors.As(err, &th) {
		t.Errorf("attacker after %d other clients: %v, want still throttled", maxBuckets, err)
	}
	for _, b := range []*buckets{l.pair, l.addr, l.name} {
		if b.len() > maxBuckets {
			t.Errorf("a table holds %d buckets, more than %d", b.len(), maxBuckets)
		}
	}
	// An IPv6 client is its /64.
	v6 := func(s string) netip.Addr { return netip.MustParseAddr(s) }
	for i := 0; i < AddrLimit.Burst; i++ {
		if err := fail(fmt.Sprintf("v6-%d", i), v6(fmt.Sprintf("2001:db8::%x", i+1))); err != nil {
			t.Fatal(err)
		}
	}
	if err := fail("v6-x", v6("2001:db8::ffff")); !errors.As(err, &th) {
		t.Errorf("a new address in the same /64: %v, want throttled", err)
	}
	// Time gives the tokens back.
	now = now.Add(PairLimit.Every)
	if err := fail("admin", attacker); err != nil {
		t.Errorf("after %v: %v", PairLimit.Every, err)
	}
	// At most MaxChecks checks at once; the next is refused, not queued.
	var held []*attempt
	for i := 0; i < MaxChecks; i++ {
		a, err := l.begin("busy", netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), now)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, a)
	}
	if _, err := l.begin("busy", netip.MustParseAddr("192.0.2.200"), now); !errors.Is(err, ErrBusy) {
		t.Errorf("check %d at once: %v, want ErrBusy", MaxChecks+1, err)
	}
	held[0].done(false, now)
	if a, err := l.begin("busy", netip.MustParseAddr("192.0.2.200"), now); err != nil {
		t.Errorf("after one check ended: %v", err)
	} else {
		a.done(false, now)
	}
}
