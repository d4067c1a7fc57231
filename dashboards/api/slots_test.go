package api

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"footfall/internal/access"
	"footfall/tests/stacktest"
)

// TestReportSlots: a credential runs as many reads as it has slots; one
// more waits, then is refused; past the reads it may have waiting, one
// more is refused at once; another credential's are its own; a slot given
// back serves the next; nothing is kept of a credential without reads.
func TestReportSlots(t *testing.T) {
	s := newReportSlots(2)
	s.wait = 50 * time.Millisecond
	ctx := context.Background()
	take := func(key string) func() {
		t.Helper()
		release, err := s.take(ctx, key)
		if err != nil {
			t.Fatalf("%s: %v, want a slot", key, err)
		}
		return release
	}
	a1, a2 := take("a"), take("a")
	if _, err := s.take(ctx, "a"); !errors.Is(err, errBusy) {
		t.Errorf("a third read of a: %v, want errBusy", err)
	}
	b := take("b")
	a1()
	a3 := take("a")
	// A read whose client went away while it waited.
	gone, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.take(gone, "a"); !errors.Is(err, context.Canceled) {
		t.Errorf("a cancelled wait: %v, want context.Canceled", err)
	}
	// With a's slots held and one read of a's waiting (as long as it
	// takes), one more is refused at once.
	s.wait, s.maxWaiting = time.Minute, 1
	waited := make(chan error, 1)
	go func() {
		release, err := s.take(ctx, "a")
		if err == nil {
			release()
		}
		waited <- err
	}()
	for ready := false; !ready; time.Sleep(time.Millisecond) {
		s.mu.Lock()
		ready = s.held["a"].users == 3
		s.mu.Unlock()
	}
	began := time.Now()
	if _, err := s.take(ctx, "a"); !errors.Is(err, errBusy) || time.Since(began) > 5*time.Second {
		t.Errorf("a read of a with one waiting already: %v after %v, want errBusy at once", err, time.Since(began))
	}
	a2()
	if err := <-waited; err != nil {
		t.Errorf("the waiting read once a slot came back: %v", err)
	}
	a3()
	b()
	if len(s.held) != 0 {
		t.Errorf("%d credentials kept after their reads ended, want none", len(s.held))
	}
	if newReportSlots(0) != nil {
		t.Error("-max-reports=0 bounds the reads")
	}
}

// TestReportSlotsServed: through the API's routes, with one slot a
// credential: a report asked while the credential's slot is held is 429
// with Retry-After and the reason; the same report answers once the slot
// is back; a public key's route (recently viewed products) and another
// credential's reports are not held up.
func TestReportSlotsServed(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	reader := stacktest.Reader(t, store)
	srv := New(reader, store, Config{Token: "tok", MaxReports: 1, Access: access.NewStore(reader, store.DB())})
	srv.read.slots.wait = 100 * time.Millisecond
	mux := http.NewServeMux()
	srv.Register(mux)
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	get := func(path string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", ts.URL+path, nil)
		req.Header.Set("Authorization", "Bearer tok")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(body)
	}
	const report = "/api/v1/breakdown?site=shop&from=2026-11-10&to=2026-11-12&by=page"
	release, err := srv.read.slots.take(context.Background(), credentialKey(&access.Principal{Kind: access.KindBootstrap}))
	if err != nil {
		t.Fatal(err)
	}
	if resp, body := get(report); resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "-max-reports") {
		t.Errorf("a report with the credential's one slot held: %d (Retry-After %q) %s, want 429 with Retry-After and the reason", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	for _, free := range []string{"/api/v1/recently-viewed?site=shop&visitor_id=v1", "/api/v1/users", "/api/v1/report-emails?site=shop"} {
		if resp, body := get(free); resp.StatusCode != 200 {
			t.Errorf("%s with the slot held: %d %s, want 200 (a public key's, an admin's or an editor's route: not bounded)", free, resp.StatusCode, body)
		}
	}
	release()
	if resp, body := get(report); resp.StatusCode != 200 {
		t.Errorf("the report once the slot is back: %d %s, want 200", resp.StatusCode, body)
	}
	other, err := srv.read.slots.take(context.Background(), credentialKey(&access.Principal{Kind: access.KindToken, ID: "someone"}))
	if err != nil {
		t.Fatal(err)
	}
	defer other()
	if resp, body := get(report); resp.StatusCode != 200 {
		t.Errorf("the report with another credential's slot held: %d %s, want 200", resp.StatusCode, body)
	}
}
