package attribute

import (
	"context"
	"math/rand/v2"
	"testing"
)

const (
	minute = 60
	hour   = 60 * minute
	day    = 24 * hour
)

var (
	google     = Touch{Source: "google", Medium: "organic"}
	facebook   = Touch{Source: "facebook", Medium: "social"}
	newsletter = Touch{Source: "newsletter", Medium: "email", UTMSource: "newsletter", UTMMedium: "email", UTMCampaign: "bf"}
	internal   = Touch{Source: "(internal)", Medium: "(none)"}
)

// hit is a counted event of visitor v at t in session s with its own values.
func hit(v, s string, t int64, own Touch) Hit {
	return Hit{Site: "shop", Visitor: v, Session: s, At: t, Own: own, Counted: true}
}

// credit runs a batch through a and returns the credits.
func credit(t *testing.T, a *Attributor, hits ...Hit) []Touch {
	t.Helper()
	out := make([]Touch, len(hits))
	if err := a.Credit(context.Background(), hits, out); err != nil {
		t.Fatal(err)
	}
	return out
}

func expect(t *testing.T, what string, got []Touch, want ...Touch) {
	t.Helper()
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("%s: event %d credited to %+v, want %+v", what, i, got[i], want[i])
		}
	}
}

// TestRule: the rule over batches that come in order, from memory (no
// database: New(nil) reads nothing).
func TestRule(t *testing.T) {
	a := New(nil)
	t0 := int64(1_790_000_000)
	// A Google landing, a page of the site, an order in the session.
	expect(t, "same session", credit(t, a,
		hit("g", "s1", t0, google), hit("g", "s1", t0+minute, internal), hit("g", "s1", t0+2*minute, Direct)),
		google, google, google)
	// The shop's server sends the order an hour later, visitor id only.
	expect(t, "server order after the landing, later batch", credit(t, a, hit("g", "", t0+hour, Direct)), google)
	// A direct visit 3 days later, and its order: still Google's.
	expect(t, "direct return visit", credit(t, a, hit("g", "s2", t0+3*day, Direct), hit("g", "s2", t0+3*day+minute, Direct)),
		google, google)
	// A newsletter campaign's visit: the campaign's, and so are the orders
	// after it, in its session or from the server.
	expect(t, "later campaign", credit(t, a, hit("g", "s3", t0+5*day, newsletter), hit("g", "s3", t0+5*day+minute, newsletter),
		hit("g", "", t0+6*day, Direct)), newsletter, newsletter, newsletter)
	// A direct visit 31 days after the newsletter: nothing brought it.
	expect(t, "touch older than 30 days", credit(t, a, hit("g", "s4", t0+36*day, Direct), hit("g", "", t0+36*day+hour, Direct)),
		Direct, Direct)

	// A direct session that begins within the window is credited whole,
	// even its events past the window; an order without a session past it
	// is not.
	b := New(nil)
	credit(t, b, hit("w", "s1", t0, google))
	expect(t, "window from the session's start", credit(t, b,
		hit("w", "s2", t0+30*day-10*minute, Direct), hit("w", "s2", t0+30*day+10*minute, Direct), hit("w", "", t0+30*day+10*minute, Direct)),
		google, google, Direct)

	// A return from another site in the middle of a session: the events
	// before it keep what brought the session, the ones after are the
	// new touch's.
	c := New(nil)
	credit(t, c, hit("m", "s1", t0, google))
	expect(t, "touch in the middle of a session", credit(t, c,
		hit("m", "s2", t0+day, Direct), hit("m", "s2", t0+day+minute, facebook), hit("m", "s2", t0+day+2*minute, internal)),
		google, facebook, facebook)

	// A server order without a session, after a touch in the middle of
	// the session (a price comparison's link): the order goes where the
	// browser's copy of it in the session goes, the session's landing, so
	// that the two copies of one order sit under one source.
	m := New(nil)
	expect(t, "server order after a touch in the middle of a session", credit(t, m,
		hit("k", "s1", t0, google), hit("k", "s1", t0+minute, facebook), hit("k", "s1", t0+2*minute, Direct),
		hit("k", "", t0+3*minute, Direct)),
		google, google, google, google)
	// Its next direct session, and a later server order: still the
	// landing's, not the touch in the middle.
	expect(t, "later visit after a touch in the middle of a session", credit(t, m,
		hit("k", "s2", t0+day, Direct), hit("k", "", t0+day+hour, Direct)), google, google)

	// Events that no report counts (a crawler's, a newsletter open, one
	// without a visitor id) keep their own values, and are no touch for
	// the visitor's later events.
	d := New(nil)
	bot := hit("b", "s1", t0, google)
	bot.Counted = false
	anon := Hit{Site: "shop", At: t0, Own: facebook}
	anonDirect := Hit{Site: "shop", At: t0, Own: internal}
	expect(t, "not counted", credit(t, d, bot, anon, anonDirect, hit("b", "s2", t0+hour, Direct)), google, facebook, Direct, Direct)
}

// TestRuleBatchOrder: within a batch, a visitor's events may come in any
// order, and a batch credited again (an insert retried) gets the same.
func TestRuleBatchOrder(t *testing.T) {
	t0 := int64(1_790_000_000)
	hits := []Hit{
		hit("v", "s1", t0, google), hit("v", "s1", t0+minute, internal), hit("v", "", t0+hour, Direct),
		hit("v", "s2", t0+2*day, Direct), hit("v", "s2", t0+2*day+minute, Direct),
		hit("v", "s3", t0+3*day, newsletter), hit("v", "", t0+3*day+hour, Direct),
		hit("v", "s4", t0+40*day, Direct),
	}
	want := []Touch{google, google, google, google, google, newsletter, newsletter, Direct}
	rng := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 20; round++ {
		perm := rng.Perm(len(hits))
		shuffled := make([]Hit, len(hits))
		for i, p := range perm {
			shuffled[i] = hits[p]
		}
		a := New(nil)
		for again := 0; again < 2; again++ {
			got := credit(t, a, shuffled...)
			for i, p := range perm {
				if got[i] != want[p] {
					t.Fatalf("round %d, pass %d: event %d credited to %+v, want %+v", round, again, p, got[i], want[p])
				}
			}
		}
	}
}

// TestForget: a forgotten visitor is a stranger again (with a database, the
// next batch reads what it knew back).
func TestForget(t *testing.T) {
	a := New(nil)
	t0 := int64(1_790_000_000)
	credit(t, a, hit("v", "s1", t0, google))
	expect(t, "remembered", credit(t, a, hit("v", "s2", t0+day, Direct)), google)
	a.Forget()
	expect(t, "forgotten", credit(t, a, hit("v", "s3", t0+2*day, Direct)), Direct)
}

// TestPrune: a visitor's state keeps what events near their latest may
// need, and no more.
func TestPrune(t *testing.T) {
	v := newVisitor(0)
	t0 := int64(1_790_000_000)
	for i := int64(0); i < 100; i++ {
		tc := Touch{Source: "s", UTMCampaign: string(rune('a' + i%26))}
		v.touched("", t0+i*hour, &tc)
		v.began("x", t0+i*hour)
	}
	v.touched("late", t0+60*day, &google)
	v.began("late", t0+60*day)
	v.prune()
	if len(v.runs) != 1 || v.runs[0].session != "late" {
		t.Errorf("runs kept: %+v", v.runs)
	}
	if v.horizon <= t0+99*hour {
		t.Errorf("horizon %d: not past the dropped touches", v.horizon)
	}
	if _, ok := v.started["x"]; ok || len(v.started) != 1 {
		t.Errorf("sessions kept: %v", v.started)
	}
	w := newVisitor(0)
	for i := int64(0); i < 100; i++ {
		tc := Touch{Source: "s", UTMTerm: string(rune('a'+i%26)) + string(rune('a'+i/26))}
		w.touched("", t0+i*minute, &tc)
	}
	w.prune()
	if len(w.runs) != keepRuns || w.horizon != t0+35*minute+1 {
		t.Errorf("%d runs kept, horizon %d, want %d and %d", len(w.runs), w.horizon, keepRuns, t0+35*minute+1)
	}
}
