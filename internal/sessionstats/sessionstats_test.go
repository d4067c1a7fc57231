package sessionstats

import (
	"context"
	"fmt"
	"testing"
	"time"

	"footfall/internal/event"
	"footfall/internal/refresh"
	"footfall/tests/stacktest"
)

// TestRefresh: a late event of a session recomputes the hour the session
// began in, not only the hour of the event. Period reads as the
// dashboards do, on a read-only connection, what the refreshes wrote.
func TestRefresh(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	s := NewStore(store.DB())
	read := NewStore(stacktest.Reader(t, store))
	ctx := context.Background()
	h9 := time.Date(2026, 11, 10, 9, 0, 0, 0, time.UTC)
	view := pageview
	period := func(want Stats) {
		t.Helper()
		if _, err := s.Refresh(ctx, "shop"); err != nil {
			t.Fatal(err)
		}
		got, err := read.Period(ctx, "shop", h9, h9.Add(24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("stats %+v, want %+v", got, want)
		}
	}
	stacktest.Insert(t, store,
		view(h9.Add(50*time.Minute), "a", "s1"),
		view(h9.Add(70*time.Minute), "b", "s2"),
		view(h9.Add(80*time.Minute), "b", "s2"))
	period(Stats{Sessions: 2, NewSessions: 2, Bounces: 1, Duration: 600})

	// Let the first events fall out of the window a refresh looks back on.
	time.Sleep(refresh.TouchedSlack + 1100*time.Millisecond)
	period(Stats{Sessions: 2, NewSessions: 2, Bounces: 1, Duration: 600})
	stacktest.Insert(t, store,
		view(h9.Add(65*time.Minute), "a", "s1"),  // s1, begun at 9:50, no longer bounces
		view(h9.Add(150*time.Minute), "a", "s3")) // a comes back
	n, err := s.Refresh(ctx, "shop")
	if err != nil || n != 3 {
		t.Errorf("refresh recomputed %d hours (%v), want 9:00, 10:00 and 11:00", n, err)
	}
	period(Stats{Sessions: 3, NewSessions: 2, Bounces: 1, Duration: 1500})
	nine, err := read.Period(ctx, "shop", h9, h9.Add(time.Hour))
	if want := (Stats{Sessions: 1, NewSessions: 1, Duration: 900}); err != nil || nine != want {
		t.Errorf("9:00 %+v %v, want %+v", nine, err, want)
	}
}

// TestPeriodReadsLastRefresh: Period reads the figures as the last
// refresh left them, writing nothing; a refresh brings the new session in.
func TestPeriodReadsLastRefresh(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	s := NewStore(store.DB())
	read := NewStore(stacktest.Reader(t, store))
	ctx := context.Background()
	h9 := time.Date(2026, 11, 10, 9, 0, 0, 0, time.UTC)
	view := func(session string) stacktest.Hit {
		return stacktest.Hit{At: h9, Fields: map[event.Field]string{event.Site: "shop", event.Type: "pageview",
			event.VisitorID: session, event.SessionID: session, event.URL: "https://shop.example/"}}
	}
	count := func() uint64 {
		t.Helper()
		st, err := read.Period(ctx, "shop", h9, h9.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		return st.Sessions
	}
	stacktest.Insert(t, store, view("s1"))
	if _, err := s.Refresh(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 1 {
		t.Fatalf("%d sessions, want 1", n)
	}
	stacktest.Insert(t, store, view("s2"))
	if n := count(); n != 1 {
		t.Errorf("%d sessions before a refresh, want the 1 of the last refresh", n)
	}
	if _, err := s.Refresh(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 2 {
		t.Errorf("%d sessions after a refresh, want 2", n)
	}
}

// TestPeriodCutsHours: a day in Asia/Kolkata (+05:30) runs from 18:30 UTC
// to 18:30 UTC: the sessions that began in its first and last half hour
// count by their start, not by their UTC hour's row. Of sessions at
// 18:10, 18:40, 18:50 and 18:55 UTC on 30 November and 12:00 and 18:35 on
// 1 December, 1 December in Kolkata has the four from 18:40 to 12:00
// (the rollup's rows alone gave 12:00 and 18:35: 2).
func TestPeriodCutsHours(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	s := NewStore(store.DB())
	read := NewStore(stacktest.Reader(t, store))
	ctx := context.Background()
	view := func(at time.Time, session string) stacktest.Hit { return pageview(at, "v-"+session, session) }
	at := func(d, h, m int) time.Time { return time.Date(2026, 11, d, h, m, 0, 0, time.UTC) }
	stacktest.Insert(t, store,
		view(at(30, 18, 10), "out1"),
		view(at(30, 18, 40), "in1"), view(at(30, 18, 45), "in1"), // 5 minutes, 2 views
		view(at(30, 18, 50), "in2"),
		view(at(30, 18, 55), "in3"),
		view(at(31, 12, 0), "in4"), view(at(31, 12, 1), "in4"), // 1 December 12:00, a minute
		view(at(31, 18, 35), "out2"))
	if _, err := s.Refresh(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	kolkata, err := time.LoadLocation("Asia/Kolkata")
	if err != nil {
		t.Fatal(err)
	}
	from := time.Date(2026, 12, 1, 0, 0, 0, 0, kolkata)
	got, err := read.Period(ctx, "shop", from, from.AddDate(0, 0, 1))
	if err != nil {
		t.Fatal(err)
	}
	if want := (Stats{Sessions: 4, NewSessions: 4, Bounces: 2, Duration: 360}); got != want {
		t.Errorf("1 December in Kolkata: %+v, want %+v", got, want)
	}
	// A period within one hour, and one of whole hours, alike.
	if got, err := read.Period(ctx, "shop", at(30, 18, 30), at(30, 18, 52)); err != nil || got.Sessions != 2 {
		t.Errorf("18:30 to 18:52: %+v %v, want 2 sessions", got, err)
	}
	if got, err := read.Period(ctx, "shop", at(30, 18, 0), at(31, 19, 0)); err != nil || got.Sessions != 6 {
		t.Errorf("whole hours: %+v %v, want 6 sessions", got, err)
	}
}

// TestRefreshNarrowsToTouchedSessions: a refresh after new events
// recomputes the sessions that had them, not every session of their hour
// (issue 24: 140,000 sessions an hour at 100M events), and the hour's sum
// still counts the others as the refresh before left them. A late event
// that moves a session's start to an earlier hour takes it out of the
// hour it began in before.
//
// Both where the whole rebuild summarized the sessions (its last days: the
// other sessions are summed from their summaries) and before (older
// hours: summed from their sessions).
func TestRefreshNarrowsToTouchedSessions(t *testing.T) {
	for name, h10 := range bases(10) {
		t.Run(name, func(t *testing.T) { testRefreshNarrows(t, h10) })
	}
}

func testRefreshNarrows(t *testing.T, h10 time.Time) {
	_, store := stacktest.ClickHouse(t)
	s := NewStore(store.DB())
	ctx := context.Background()
	view := func(at time.Time, session string) stacktest.Hit { return pageview(at, "v-"+session, session) }
	var hits []stacktest.Hit
	for i := range 50 {
		hits = append(hits, view(h10.Add(time.Duration(i)*time.Minute), fmt.Sprintf("s%02d", i)))
	}
	hits = append(hits, view(h10.Add(10*time.Minute), "late"), view(h10.Add(20*time.Minute), "late"))
	stacktest.Insert(t, store, hits...)
	if _, err := s.Refresh(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	hour := func(h time.Time) Stats { t.Helper(); return period(t, s, h, h.Add(time.Hour)) }
	if got, want := hour(h10), (Stats{Sessions: 51, NewSessions: 51, Bounces: 50, Duration: 600}); got != want {
		t.Fatalf("10:00 after the first refresh: %+v, want %+v", got, want)
	}
	// Let the first events fall out of the window a refresh looks back on.
	time.Sleep(refresh.TouchedSlack + 1100*time.Millisecond)
	if _, err := s.Refresh(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	// The rows of the refresh: newer than every row before it (merges
	// collapse older versions of a key at their own time, never the
	// newest).
	newest := stacktest.Count(t, store, "SELECT max(version) FROM session_summaries")
	stacktest.Insert(t, store, view(h10.Add(-5*time.Minute), "late")) // 9:55: "late" now began at 9:00
	n, err := s.Refresh(ctx, "shop")
	if err != nil || n != 2 {
		t.Errorf("refresh summed %d hours (%v), want 9:00 and 10:00", n, err)
	}
	if added := stacktest.Count(t, store, "SELECT count() FROM session_summaries WHERE version > ?", newest); added != 2 {
		t.Errorf("the refresh wrote %d session summaries, want 2 (the touched session's two hours), not every session of 10:00", added)
	}
	if got, want := hour(h10), (Stats{Sessions: 50, NewSessions: 50, Bounces: 50}); got != want {
		t.Errorf("10:00: %+v, want %+v (the 50 sessions the refresh left alone, without the one that now began at 9:55)", got, want)
	}
	if got, want := hour(h10.Add(-time.Hour)), (Stats{Sessions: 1, NewSessions: 1, Duration: 1500}); got != want {
		t.Errorf("9:00: %+v, want %+v", got, want)
	}
}

// TestRefreshLateFirstSession: a visitor's earlier session arriving late
// (history sent with its time) is their first; the session that was their
// first until then, which has no new event, is no longer new.
// Both within the summaries' horizon (a2's summary reflagged) and before
// it (11:00 summed from its sessions).
func TestRefreshLateFirstSession(t *testing.T) {
	for name, h8 := range bases(8) {
		t.Run(name, func(t *testing.T) { testRefreshLateFirst(t, h8) })
	}
}

func testRefreshLateFirst(t *testing.T, h8 time.Time) {
	_, store := stacktest.ClickHouse(t)
	s := NewStore(store.DB())
	ctx := context.Background()
	view := pageview
	stacktest.Insert(t, store, view(h8.Add(3*time.Hour), "ann", "a2"), view(h8.Add(3*time.Hour), "bob", "b1"))
	if _, err := s.Refresh(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(refresh.TouchedSlack + 1100*time.Millisecond)
	if _, err := s.Refresh(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	day := func() Stats { t.Helper(); return period(t, s, h8.Add(-8*time.Hour), h8.Add(16*time.Hour)) }
	if got, want := day(), (Stats{Sessions: 2, NewSessions: 2, Bounces: 2}); got != want {
		t.Fatalf("before: %+v, want %+v", got, want)
	}
	stacktest.Insert(t, store, view(h8, "ann", "a1")) // ann's history: a visit at 8:00
	if _, err := s.Refresh(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	if got, want := day(), (Stats{Sessions: 3, NewSessions: 2, Bounces: 3}); got != want {
		t.Errorf("after ann's 8:00 visit: %+v, want %+v (a1 and b1 new, a2 no longer)", got, want)
	}
	eleven := func() Stats { t.Helper(); return period(t, s, h8.Add(3*time.Hour), h8.Add(4*time.Hour)) }
	if got, want := eleven(), (Stats{Sessions: 2, NewSessions: 1, Bounces: 2}); got != want {
		t.Errorf("11:00: %+v, want %+v", got, want)
	}
	// 11:00 summed again from the summaries, a2's as the check wrote it.
	time.Sleep(refresh.TouchedSlack + 1100*time.Millisecond)
	if _, err := s.Refresh(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	stacktest.Insert(t, store, view(h8.Add(3*time.Hour+10*time.Minute), "bob", "b1"))
	if _, err := s.Refresh(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	if got, want := eleven(), (Stats{Sessions: 2, NewSessions: 1, Bounces: 1, Duration: 600}); got != want {
		t.Errorf("11:00 after b1's second view: %+v, want %+v (a2 still not new)", got, want)
	}
}

// TestFit: a statement names at most readBytes of identifiers, and at
// least one, however long.
func TestFit(t *testing.T) {
	ids := []int{readBytes / 3, readBytes / 3, readBytes / 3, 1, readBytes * 2}
	size := func(i int) int { return ids[i] }
	if n := fit(len(ids), size); n != 4 {
		t.Errorf("fit = %d, want 4 (the first three thirds and the 1)", n)
	}
	if n := fit(1, func(int) int { return readBytes * 2 }); n != 1 {
		t.Errorf("fit of one too long = %d, want 1", n)
	}
	if n := fit(3, func(int) int { return 10 }); n != 3 {
		t.Errorf("fit of small ones = %d, want 3", n)
	}
}

// TestWholeRebuildSummarizesRecent: a whole rebuild writes the summaries
// of the sessions of its last days only, and sums every session. A later
// refresh sums an older hour from its sessions, touched or not: after a
// late event of one of them, and after a late first session of the
// visitor of another (whose flag changes with no summary to reflag).
func TestWholeRebuildSummarizesRecent(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	s := NewStore(store.DB())
	ctx := context.Background()
	old, fresh := bases(9)["old"], bases(9)["recent"]
	refreshed := func() {
		t.Helper()
		if _, err := s.Refresh(ctx, "shop"); err != nil {
			t.Fatal(err)
		}
	}
	settled := func() { // the next refresh reads only what comes after
		t.Helper()
		time.Sleep(refresh.TouchedSlack + 1100*time.Millisecond)
		refreshed()
	}
	hour := func(h time.Time) Stats { t.Helper(); return period(t, s, h, h.Add(time.Hour)) }
	stacktest.Insert(t, store,
		pageview(old, "a", "o1"), pageview(old.Add(time.Minute), "b", "o2"), pageview(old.Add(2*time.Minute), "c", "o3"),
		pageview(fresh, "a", "r1"), pageview(fresh.Add(30*time.Minute), "a", "r1"))
	time.Sleep(refresh.TouchedSlack + 1100*time.Millisecond)
	refreshed()
	if n := stacktest.Count(t, store, "SELECT count() FROM session_summaries"); n != 1 {
		t.Errorf("%d session summaries, want 1 (r1's; o1 to o3 are older than the horizon)", n)
	}
	if got, want := hour(old), (Stats{Sessions: 3, NewSessions: 3, Bounces: 3}); got != want {
		t.Errorf("the old hour: %+v, want %+v", got, want)
	}
	if got, want := hour(fresh), (Stats{Sessions: 1, Duration: 1800}); got != want {
		t.Errorf("the recent hour: %+v, want %+v (a was first seen in o1)", got, want)
	}

	stacktest.Insert(t, store, pageview(old.Add(10*time.Minute), "a", "o1"))
	refreshed()
	if got, want := hour(old), (Stats{Sessions: 3, NewSessions: 3, Bounces: 2, Duration: 600}); got != want {
		t.Errorf("the old hour after o1's late view: %+v, want %+v (o2 and o3 unsummarized, counted)", got, want)
	}

	settled()
	stacktest.Insert(t, store, pageview(old.Add(-2*time.Hour), "c", "o0")) // c's history: a visit at 7:00
	refreshed()
	if got, want := hour(old), (Stats{Sessions: 3, NewSessions: 2, Bounces: 2, Duration: 600}); got != want {
		t.Errorf("the old hour after c's late first visit: %+v, want %+v (o3 no longer new)", got, want)
	}
	if got, want := hour(old.Add(-2*time.Hour)), (Stats{Sessions: 1, NewSessions: 1, Bounces: 1}); got != want {
		t.Errorf("7:00: %+v, want %+v", got, want)
	}
}

// TestWholeRebuildClearsHours: an hour whose only session began earlier
// since (a late event) has no session left after a whole rebuild, not the
// row the refresh before wrote.
func TestWholeRebuildClearsHours(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	s := NewStore(store.DB())
	ctx := context.Background()
	h18 := bases(18)["recent"]
	stacktest.Insert(t, store, pageview(h18, "g", "g1"), pageview(h18.Add(5*time.Minute), "g", "g1"))
	if _, err := s.Refresh(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	if got, want := period(t, s, h18, h18.Add(time.Hour)), (Stats{Sessions: 1, NewSessions: 1, Duration: 300}); got != want {
		t.Fatalf("18:00 before: %+v, want %+v", got, want)
	}
	// g1 began an hour earlier; with more touched hours than an
	// incremental refresh takes, the next one is whole.
	hits := []stacktest.Hit{pageview(h18.Add(-time.Hour), "g", "g1")}
	for i := range maxHours + 1 {
		hits = append(hits, pageview(bases(0)["old"].Add(time.Duration(i)*time.Hour), fmt.Sprintf("f%d", i), fmt.Sprintf("fs%d", i)))
	}
	stacktest.Insert(t, store, hits...)
	if n, err := s.Refresh(ctx, "shop"); err != nil || n != 0 {
		t.Fatalf("refresh summed %d hours (%v), want a whole rebuild", n, err)
	}
	if got := period(t, s, h18, h18.Add(time.Hour)); got != (Stats{}) {
		t.Errorf("18:00 after: %+v, want no session", got)
	}
	if got, want := period(t, s, h18.Add(-time.Hour), h18), (Stats{Sessions: 1, NewSessions: 1, Duration: 3900}); got != want {
		t.Errorf("17:00 after: %+v, want %+v", got, want)
	}
}

// bases are two times at hour h: one within the summaries' horizon
// (yesterday) and one long before it (20 days ago).
func bases(h int) map[string]time.Time {
	recentDay := time.Now().UTC().Add(-recent / 3).Truncate(24 * time.Hour)
	return map[string]time.Time{
		"recent": recentDay.Add(time.Duration(h) * time.Hour),
		"old":    time.Now().UTC().AddDate(0, 0, -20).Truncate(24 * time.Hour).Add(time.Duration(h) * time.Hour),
	}
}

// pageview is a page view of shop at at by visitor in session.
func pageview(at time.Time, visitor, session string) stacktest.Hit {
	return stacktest.Hit{At: at, Fields: map[event.Field]string{event.Site: "shop", event.Type: "pageview",
		event.VisitorID: visitor, event.SessionID: session, event.URL: "https://shop.example/"}}
}

// period is shop's statistics of [from, to) as s reads them.
func period(t *testing.T, s *Store, from, to time.Time) Stats {
	t.Helper()
	st, err := s.Period(context.Background(), "shop", from, to)
	if err != nil {
		t.Fatal(err)
	}
	return st
}
