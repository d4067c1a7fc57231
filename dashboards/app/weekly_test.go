package app_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"footfall/dashboards/app"
	"footfall/internal/event"
	"footfall/internal/sites"
	"footfall/internal/weekly"
	"footfall/tests/stacktest"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// mailbox is an SMTP server started by the test (go-smtp): it takes PLAIN
// logins of user/secret only and keeps every message with its envelope.
type mailbox struct {
	mu   sync.Mutex
	got  []received
	addr string
}

type received struct {
	user, from string
	to         []string
	data       []byte
}

type session struct {
	box *mailbox
	cur received
}

func (s *session) AuthMechanisms() []string { return []string{sasl.Plain} }
func (s *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != "reports" || pass != "smtp-secret" {
			return &smtp.SMTPError{Code: 535, Message: "bad login"}
		}
		s.cur.user = user
		return nil
	}), nil
}
func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.cur.user == "" {
		return smtp.ErrAuthRequired
	}
	s.cur.from = from
	return nil
}
func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.cur.to = append(s.cur.to, to)
	return nil
}
func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.cur.data = b
	s.box.mu.Lock()
	s.box.got = append(s.box.got, s.cur)
	s.box.mu.Unlock()
	s.cur = received{user: s.cur.user}
	return nil
}
func (s *session) Reset()        { s.cur = received{user: s.cur.user} }
func (s *session) Logout() error { return nil }

func startMailbox(t *testing.T) *mailbox {
	box := &mailbox{}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &session{box: box}, nil }))
	srv.Domain, srv.AllowInsecureAuth = "localhost", true
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	box.addr = ln.Addr().String()
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return box
}

func (b *mailbox) messages() []received {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.got)
}

// TestWeeklyReportEmail runs the dashboards with -smtp-* pointing at an
// SMTP server the test starts, on a clock set to Monday 23 November 2026
// 08:00:30 in Paris, for a site in Europe/Paris. The site's report
// addresses are set through PUT /api/v1/report-emails; the sender then
// mails the report of the week of 16 November (Paris days: an order at
// 00:30 on Monday 16 in Paris, Sunday 15 in UTC, is in it) to exactly
// those addresses, logged in, with its subject, and each figure of the
// body (visitors, page views, orders, revenue of both weeks, top pages and
// sources, the newsletter's recipients) equals what the API answers for
// the same week. A second check sends nothing (the week is recorded); a
// report the server refuses is not recorded, and sent at the next check.
func TestWeeklyReportEmail(t *testing.T) {
	box := startMailbox(t)
	paris, _ := time.LoadLocation("Europe/Paris")
	now := time.Date(2026, 11, 23, 8, 0, 30, 0, paris)
	ch, store := stacktest.ClickHouse(t)
	stacktest.Site(t, store, "boutique", func(s *sites.Site) {
		s.Name, s.TimeZone, s.Currency = "Boutique Lumière", "Europe/Paris", "EUR"
	})

	week := time.Date(2026, 11, 16, 0, 0, 0, 0, paris)
	at := func(day, hour, minute int) time.Time {
		return week.AddDate(0, 0, day).Add(time.Duration(hour)*time.Hour + time.Duration(minute)*time.Minute)
	}
	view := func(when time.Time, visitor, page, referrer string) stacktest.Hit {
		f := map[event.Field]string{event.Site: "boutique", event.Type: "pageview", event.VisitorID: visitor, event.URL: "https://boutique.example" + page}
		if referrer != "" {
			f[event.Referrer] = referrer
		}
		return stacktest.Hit{At: when, Fields: f}
	}
	order := func(when time.Time, visitor, id string, euros float64) stacktest.Hit {
		return stacktest.Hit{At: when, Revenue: int64(euros * 1e6), Ingest: event.IngestAPI,
			Fields: map[event.Field]string{event.Site: "boutique", event.Type: "purchase", event.VisitorID: visitor, event.OrderID: id, event.Currency: "EUR"}}
	}
	stacktest.Insert(t, store,
		// The week reported: 4 visitors, 7 page views, 3 orders (one at
		// 00:30 on its Monday in Paris, still Sunday in UTC).
		view(at(0, 0, 20), "v1", "/", "https://www.google.com/"),
		order(at(0, 0, 30), "v1", "A-1", 1069.30),
		view(at(1, 10, 0), "v2", "/", "https://www.google.com/"),
		view(at(1, 10, 1), "v2", "/chaussures", ""),
		view(at(2, 15, 0), "v3", "/chaussures", "https://www.bing.com/"),
		view(at(2, 15, 2), "v3", "/chaussures/rouges", ""),
		order(at(2, 15, 5), "v3", "A-2", 59.90),
		view(at(6, 23, 10), "v4", "/", ""),
		view(at(6, 23, 11), "v4", "/contact", ""),
		order(at(6, 23, 40), "v4", "A-3", 20),
		// The week before: 2 visitors, 2 page views, 1 order; and an event
		// of the next week (Monday 00:10), in neither.
		view(at(-7, 9, 0), "w1", "/", ""),
		view(at(-1, 23, 50), "w2", "/chaussures", "https://www.google.com/"),
		order(at(-3, 12, 0), "w1", "B-1", 100),
		view(at(7, 0, 10), "x1", "/", ""),
	)

	var c app.Config
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	c.RegisterFlags(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(box.addr)
	c.Listen, c.Ops.Listen, c.CH, c.Token = "127.0.0.1:0", "127.0.0.1:0", ch, "scripts-token"
	c.SMTP = weekly.SMTP{Host: host, User: "reports", Password: "smtp-secret", From: "Footfall <reports@footfall.example>"}
	c.SMTP.Port, _ = strconv.Atoi(port)
	c.Now = func() time.Time { return now }
	c.WeeklyCheck = 200 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := app.Start(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Shutdown(context.Background()) })
	api := newClient(t, "http://"+p.Addr(), "Authorization", "Bearer scripts-token")

	// A newsletter of the week, with two recipients.
	if code, b, _ := api.do("POST", "/api/v1/campaigns", `{"site":"boutique","name":"Soldes d'hiver","id":"soldes","sent_at":"2026-11-19T09:00:00Z","cost":50}`); code != 201 {
		t.Fatalf("campaign: %d %s", code, b)
	}
	if code, b, _ := api.do("POST", "/api/v1/campaigns/soldes/recipients?site=boutique",
		`{"recipients":[{"email":"ana@example.com"},{"email":"luc@example.com"}],"consent_wording":"newsletter"}`); code != 200 {
		t.Fatalf("recipients: %d %s", code, b)
	}
	time.Sleep(time.Second)
	if n := len(box.messages()); n != 0 {
		t.Fatalf("%d messages before the site lists an address", n)
	}
	// Addresses: refused when one is not an address; cleaned when kept.
	if code, b, _ := api.do("PUT", "/api/v1/report-emails", `{"site":"boutique","emails":["owner@boutique.example","not an address"]}`); code != 400 {
		t.Errorf("an invalid address: %d %s", code, b)
	}
	code, b, _ := api.do("PUT", "/api/v1/report-emails", `{"site":"boutique","emails":[" Owner@Boutique.example","compta@boutique.example","owner@boutique.example"]}`)
	want := []string{"compta@boutique.example", "owner@boutique.example"}
	var saved struct{ Emails []string }
	if json.Unmarshal([]byte(b), &saved); code != 200 || !slices.Equal(saved.Emails, want) {
		t.Fatalf("PUT report-emails: %d %s", code, b)
	}
	if code, b, _ := api.do("GET", "/api/v1/report-emails?site=boutique", ""); code != 200 || !strings.Contains(b, `"compta@boutique.example","owner@boutique.example"`) {
		t.Errorf("GET report-emails: %d %s", code, b)
	}

	deadline := time.Now().Add(30 * time.Second)
	for len(box.messages()) == 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	msgs := box.messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages, want 1", len(msgs))
	}
	m := msgs[0]
	if m.user != "reports" || m.from != "reports@footfall.example" || !slices.Equal(m.to, want) {
		t.Errorf("envelope: user %q, from %q, to %v; want to %v", m.user, m.from, m.to, want)
	}
	msg, err := mail.ReadMessage(strings.NewReader(string(m.data)))
	if err != nil {
		t.Fatal(err)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if wantS := "Footfall weekly report: Boutique Lumière, week of 16 November 2026"; err != nil || subject != wantS {
		t.Errorf("subject %q (%v), want %q", subject, err, wantS)
	}
	if to := msg.Header.Get("To"); to != strings.Join(want, ", ") {
		t.Errorf("To: %q", to)
	}
	raw, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
	if err != nil {
		t.Fatal(err)
	}
	body := strings.ReplaceAll(string(raw), "\r\n", "\n")
	t.Logf("report:\n%s", body)

	// The figures, as the API answers them for the same weeks.
	type figures struct {
		visitors, pageviews, orders uint64
		revenue                     float64
		pages, sources              []string
	}
	fromAPI := func(from, to string) figures {
		var f figures
		var o struct {
			Visitors, Pageviews uint64
			TopPages            []struct {
				Key      string
				Visitors uint64
			} `json:"top_pages"`
			TopSources []struct {
				Key      string
				Visitors uint64
			} `json:"top_sources"`
		}
		code, b, _ := api.do("GET", "/api/v1/overview?site=boutique&from="+from+"&to="+to, "")
		if code != 200 || json.Unmarshal([]byte(b), &o) != nil {
			t.Fatalf("overview %s: %d %s", from, code, b)
		}
		f.visitors, f.pageviews = o.Visitors, o.Pageviews
		for i, r := range o.TopPages {
			if i < weekly.TopRows {
				f.pages = append(f.pages, fmt.Sprintf("%d %s", r.Visitors, r.Key))
			}
		}
		for i, r := range o.TopSources {
			if i < weekly.TopRows {
				f.sources = append(f.sources, fmt.Sprintf("%d %s", r.Visitors, r.Key))
			}
		}
		var s struct{ Rows [][]any }
		code, b, _ = api.do("GET", "/api/v1/timeseries?site=boutique&interval=week&metrics=orders,revenue&from="+from+"&to="+to, "")
		if code != 200 || json.Unmarshal([]byte(b), &s) != nil || len(s.Rows) != 1 {
			t.Fatalf("timeseries %s: %d %s", from, code, b)
		}
		f.orders, f.revenue = uint64(s.Rows[0][1].(float64)), s.Rows[0][2].(float64)
		return f
	}
	this, last := fromAPI("2026-11-16", "2026-11-23"), fromAPI("2026-11-09", "2026-11-16")
	if this.visitors != 4 || this.pageviews != 7 || this.orders != 3 || last.orders != 1 || last.visitors != 2 {
		t.Fatalf("the API's figures are not the data's: this week %+v, last %+v", this, last)
	}
	num := func(s string) float64 {
		v, err := strconv.ParseFloat(strings.ReplaceAll(s, ",", ""), 64)
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		return v
	}
	row := func(label string) (float64, float64) {
		m := regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(label) + `\s+([\d,.]+)\s+([\d,.]+)\s`).FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("no %q line in the report", label)
		}
		return num(m[1]), num(m[2])
	}
	check := func(label string, gotThis, gotLast, wantThis, wantLast float64) {
		if gotThis != wantThis || gotLast != wantLast {
			t.Errorf("%s: report %v and %v, API %v and %v", label, gotThis, gotLast, wantThis, wantLast)
		}
	}
	a, l := row("Visitors")
	check("visitors", a, l, float64(this.visitors), float64(last.visitors))
	a, l = row("Page views")
	check("page views", a, l, float64(this.pageviews), float64(last.pageviews))
	a, l = row("Orders")
	check("orders", a, l, float64(this.orders), float64(last.orders))
	a, l = row("Revenue (EUR)")
	check("revenue", a, l, this.revenue, last.revenue)
	if this.revenue != 1149.2 {
		t.Errorf("API revenue %v, want 1149.2", this.revenue)
	}
	list := func(title string) []string {
		i := strings.Index(body, title+" (visitors this week):\n")
		if i < 0 {
			t.Fatalf("no %s in the report", title)
		}
		var out []string
		for _, line := range strings.Split(body[i:], "\n")[1:] {
			if !strings.HasPrefix(line, "  ") {
				break
			}
			f := strings.Fields(line)
			out = append(out, fmt.Sprintf("%d %s", int(num(f[0])), f[1]))
		}
		return out
	}
	if got := list("Top pages"); !slices.Equal(got, this.pages) || len(got) < 3 {
		t.Errorf("top pages: report %v, API %v", got, this.pages)
	}
	if got := list("Top sources"); !slices.Equal(got, this.sources) || len(got) < 2 {
		t.Errorf("top sources: report %v, API %v", got, this.sources)
	}
	var rep struct {
		Sent    uint64
		Orders  uint64
		Revenue float64
	}
	if code, b, _ := api.do("GET", "/api/v1/campaigns/soldes/report?site=boutique", ""); code != 200 || json.Unmarshal([]byte(b), &rep) != nil {
		t.Fatalf("campaign report: %d %s", code, b)
	}
	nl := fmt.Sprintf("  Soldes d'hiver, sent 19 November 2026: %d sent, ", rep.Sent)
	if rep.Sent != 2 || !strings.Contains(body, nl) || !strings.Contains(body, fmt.Sprintf(", %d orders, %.2f EUR revenue", rep.Orders, rep.Revenue)) {
		t.Errorf("newsletter: API %+v, report lacks %q", rep, nl)
	}

	// The week is recorded: another sender (a restart) sends nothing.
	if n := stacktest.Count(t, store, "SELECT count() FROM weekly_reports_sent WHERE site_id = 'boutique' AND week = '2026-11-16'"); n != 1 {
		t.Errorf("%d weeks recorded, want 1", n)
	}
	time.Sleep(time.Second)
	if n := len(box.messages()); n != 1 {
		t.Errorf("%d messages after more checks, want 1", n)
	}

	// A week later, a refused login: nothing recorded, so the next check
	// sends it.
	s := &weekly.Sender{Read: store.DB(), Store: weekly.NewStore(store.DB()), SMTP: c.SMTP,
		Sites: func() []weekly.Site { return []weekly.Site{{ID: "boutique", Zone: paris}} },
		Now:   func() time.Time { return now.AddDate(0, 0, 7) }}
	s.SMTP.Password = "wrong"
	recorded := func() uint64 {
		return stacktest.Count(t, store, "SELECT count() FROM weekly_reports_sent WHERE site_id = 'boutique' AND week = '2026-11-23'")
	}
	if n := s.Check(context.Background()); n != 0 || recorded() != 0 {
		t.Errorf("refused login: %d sent, %d recorded", n, recorded())
	}
	s.SMTP.Password = "smtp-secret"
	if n := s.Check(context.Background()); n != 1 || recorded() != 1 || len(box.messages()) != 2 {
		t.Errorf("next check: %d sent, %d recorded, %d messages", n, recorded(), len(box.messages()))
	}
}
