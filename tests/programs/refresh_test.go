package programs_test

import (
	"context"
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	dashboards "footfall/dashboards/app"
	"footfall/internal/event"
	processor "footfall/processor/app"
	"footfall/tests/stacktest"
)

// TestRefreshJob: the processor refreshes the derived tables on its own
// timer, with its freshness on /metrics, and the dashboards, reading as
// the read-only user by default, show what it wrote: a GET refreshes
// nothing itself.
func TestRefreshJob(t *testing.T) {
	brokers := stacktest.Brokers(t)
	ch, store := stacktest.ClickHouse(t)
	ctx := context.Background()

	var pc processor.Config
	defaults(t, pc.RegisterFlags)
	pc.Kafka.Brokers, pc.Kafka.Topic, pc.KafkaGroup = strings.Join(brokers, ","), stacktest.Topic(t, brokers, 1), stacktest.Name(t, "g")
	pc.CH, pc.Ops.Listen = ch, "127.0.0.1:0"
	pc.Triggers.Interval, pc.Refresh.Interval, pc.Refresh.CompactEvery = 0, 100*time.Millisecond, 200*time.Millisecond
	proc, err := processor.Start(ctx, pc)
	if err != nil {
		t.Fatal(err)
	}
	defer proc.Shutdown(ctx)

	var dc dashboards.Config
	defaults(t, dc.RegisterFlags)
	if dc.Read.User != stacktest.ReaderUser {
		t.Errorf("the dashboards read as %q by default, want %s", dc.Read.User, stacktest.ReaderUser)
	}
	dc.Listen, dc.Ops.Listen, dc.CH, dc.Token = "127.0.0.1:0", "127.0.0.1:0", ch, "tok"
	dash, err := dashboards.Start(ctx, dc)
	if err != nil {
		t.Fatal(err)
	}
	defer dash.Shutdown(ctx)

	// Straight into ClickHouse, as the processor's consumer writes: no
	// request of the dashboards comes in between.
	now := time.Now().UTC()
	view := func(visitor, session string, at time.Time) stacktest.Hit {
		return stacktest.Hit{At: at, Fields: map[event.Field]string{event.Site: "shop", event.Type: "pageview",
			event.VisitorID: visitor, event.SessionID: session, event.URL: "https://shop.example/"}}
	}
	stacktest.Insert(t, store, view("a", "a1", now), view("b", "b1", now), view("b", "b1", now.Add(time.Second)))
	stacktest.WaitCount(t, store, 10*time.Second, 2, "SELECT count() FROM people FINAL WHERE site_id = 'shop' AND deleted = 0")

	var lc struct{ Classes map[string]uint64 }
	code, body := get(t, "http://"+dash.Addr()+"/api/v1/lifecycle?site=shop", "Authorization", "Bearer tok")
	if err := json.Unmarshal([]byte(body), &lc); code != 200 || err != nil || lc.Classes["visitor"] != 2 {
		t.Errorf("lifecycle: %d %s, want 2 visitors", code, body)
	}
	day := now.Format(time.DateOnly)
	next := now.Add(24 * time.Hour).Format(time.DateOnly)
	// The session statistics are refreshed in the same round as the
	// people, after them: the round that made the people may still be
	// writing them.
	var o struct{ Sessions, NewSessions uint64 }
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		code, body = get(t, "http://"+dash.Addr()+"/api/v1/overview?site=shop&from="+day+"&to="+next, "Authorization", "Bearer tok")
		err := json.Unmarshal([]byte(body), &o)
		if code == 200 && err == nil && o.Sessions == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("overview: %d %s, want 2 sessions within 10 s", code, body)
			break
		}
	}
	code, metrics := get(t, "http://"+proc.OpsAddr()+"/metrics")
	for _, kind := range []string{"people", "sessions"} {
		if !strings.Contains(metrics, `processor_refresh_age_seconds{kind="`+kind+`"}`) {
			t.Errorf("processor /metrics (%d) has no refresh age of %s", code, kind)
		}
	}
	// The people table is compacted a refresh interval after the start,
	// then every -people-compact-interval (200 ms here), beside the
	// refreshes: its rows, there since the lifecycle's answer, are younger
	// than a base's margin, so no base moves, and nothing fails.
	compactions := func(metrics string) int {
		m := regexp.MustCompile(`\nprocessor_people_compaction_seconds_count (\d+)\n`).FindStringSubmatch(metrics)
		if m == nil {
			return 0
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
	before := compactions(metrics) // the metric is the process's: other tests' processors count too
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		_, metrics = get(t, "http://"+proc.OpsAddr()+"/metrics")
		if compactions(metrics) >= before+2 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("no compaction of the people table within 10 s of the start:\n%s", grepLines(metrics, "processor_people_"))
			break
		}
	}
	if !strings.Contains(metrics, "\nprocessor_people_compaction_errors_total 0\n") {
		t.Errorf("compactions failed:\n%s", grepLines(metrics, "processor_people_"))
	}
	var bases uint64
	if err := store.DB().Driver().QueryRow(ctx, "SELECT count() FROM refreshes WHERE kind = 'people_base'").Scan(&bases); err != nil || bases != 0 {
		t.Errorf("%d bases recorded (%v), want none: every person row is younger than a base's margin", bases, err)
	}
}

// grepLines keeps the lines of text that hold s.
func grepLines(text, s string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
