package weekly

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"math"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"footfall/internal/reports"
)

// SMTP is the mail server reports are sent through. Host "" sends
// nothing: the weekly report is off.
type SMTP struct {
	Host     string
	Port     int
	User     string
	Password string
	From     string
}

// RegisterFlags declares the SMTP flags on fs.
func (c *SMTP) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Host, "smtp-host", "", "mail server of the weekly e-mail report (internal/weekly); empty: no report is sent. Set it on one dashboards only")
	fs.IntVar(&c.Port, "smtp-port", 587, "port of -smtp-host (STARTTLS is used when the server offers it)")
	fs.StringVar(&c.User, "smtp-user", "", "user of -smtp-host (PLAIN authentication, over TLS or to localhost only); empty: none")
	fs.StringVar(&c.Password, "smtp-password", "", "password of -smtp-user")
	fs.StringVar(&c.From, "smtp-from", "footfall@localhost", "sender address of the weekly report")
}

// Message is an e-mail ready to send.
type Message struct {
	From    string
	To      []string
	Subject string
	Body    string // plain text
}

// Subject is the report's subject line.
func Subject(f Figures) string {
	name := f.Site.Name
	if name == "" {
		name = f.Site.ID
	}
	return fmt.Sprintf("Footfall weekly report: %s, week of %s", name, f.Week.Format("2 January 2006"))
}

// Compose is the report f as an e-mail from from to to.
func Compose(f Figures, from string, to []string) Message {
	var b strings.Builder
	name := f.Site.Name
	if name == "" {
		name = f.Site.ID
	}
	last := f.End.In(f.Week.Location()).AddDate(0, 0, -1)
	fmt.Fprintf(&b, "Weekly report of %s (site %s)\n", name, f.Site.ID)
	fmt.Fprintf(&b, "Week: Monday %s to Sunday %s (%s), against the week before.\n\n",
		f.Week.Format("2 January 2006"), last.Format("2 January 2006"), f.Week.Location())
	tw := tabwriter.NewWriter(&b, 0, 0, 3, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "\tThis week\tLast week\tChange\t\n")
	count := func(label string, now, before uint64) {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", label, group(strconv.FormatUint(now, 10)), group(strconv.FormatUint(before, 10)), change(float64(now), float64(before)))
	}
	count("Visitors", f.This.Visitors, f.Last.Visitors)
	count("Page views", f.This.Pageviews, f.Last.Pageviews)
	count("Orders", f.This.Orders, f.Last.Orders)
	fmt.Fprintf(tw, "Revenue (%s)\t%s\t%s\t%s\t\n", f.Currency, amount(f.This.Revenue), amount(f.Last.Revenue), change(f.This.Revenue, f.Last.Revenue))
	tw.Flush()
	list := func(title string, rows []reports.Row) {
		fmt.Fprintf(&b, "\n%s (visitors this week):\n", title)
		if len(rows) == 0 {
			b.WriteString("  none\n")
			return
		}
		for _, r := range rows {
			fmt.Fprintf(&b, "  %s  %s\n", group(strconv.FormatUint(r.Visitors, 10)), r.Key)
		}
	}
	list("Top pages", f.Pages)
	list("Top sources", f.Sources)
	fmt.Fprintf(&b, "\nNewsletters sent in the %d days to the week's end (orders within %d days of a click):\n", NewsletterDays, int(AttributionWindow.Hours()/24))
	if len(f.Newsletters) == 0 {
		b.WriteString("  none\n")
	}
	for _, n := range f.Newsletters {
		r := n.Report
		fmt.Fprintf(&b, "  %s, sent %s: %s sent, %s opened, %s clicked, %s unsubscribed, %s orders, %s %s revenue",
			n.Name, n.SentAt.Format("2 January 2006"), group(strconv.FormatUint(r.Sent, 10)), group(strconv.FormatUint(r.OpenedHuman, 10)),
			group(strconv.FormatUint(r.Clicked, 10)), group(strconv.FormatUint(r.Unsubscribed, 10)), group(strconv.FormatUint(r.Orders, 10)),
			amount(n.Revenue), r.ReportCurrency)
		if r.ROI != nil {
			fmt.Fprintf(&b, ", ROI %s%%", strconv.FormatFloat(math.Round(*r.ROI*100), 'f', 0, 64))
		}
		b.WriteString("\n")
	}
	b.WriteString("\nVisitors are distinct browsers; revenue counts each order once, converted at its day's rate.\n")
	return Message{From: from, To: to, Subject: Subject(f), Body: b.String()}
}

// change is the change from before to now, in percent ("n/a" from 0).
func change(now, before float64) string {
	if before == 0 {
		if now == 0 {
			return "0%"
		}
		return "new"
	}
	return fmt.Sprintf("%+.0f%%", (now-before)/before*100)
}

// amount writes v with two decimals and thousands separated by commas.
func amount(v float64) string {
	s := strconv.FormatFloat(math.Abs(v), 'f', 2, 64)
	out := group(s[:len(s)-3]) + s[len(s)-3:]
	if v < 0 {
		out = "-" + out
	}
	return out
}

// group separates the thousands of the digits s with commas.
func group(s string) string {
	if len(s) <= 3 {
		return s
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// Bytes is m as an RFC 5322 message: UTF-8 text, quoted-printable, the
// subject encoded where it is not ASCII.
func (m Message) Bytes(now time.Time) []byte {
	var b bytes.Buffer
	id := make([]byte, 12)
	rand.Read(id)
	host := "footfall"
	if a, err := mail.ParseAddress(m.From); err == nil {
		if at := strings.LastIndexByte(a.Address, '@'); at >= 0 {
			host = a.Address[at+1:]
		}
	}
	fmt.Fprintf(&b, "From: %s\r\n", m.From)
	fmt.Fprintf(&b, "To: %s\r\n", strings.Join(m.To, ", "))
	fmt.Fprintf(&b, "Subject: %s\r\n", mime.QEncoding.Encode("utf-8", m.Subject))
	fmt.Fprintf(&b, "Date: %s\r\n", now.Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <%s@%s>\r\n", hex.EncodeToString(id), host)
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
	qp := quotedprintable.NewWriter(&b)
	qp.Write([]byte(strings.ReplaceAll(m.Body, "\n", "\r\n")))
	qp.Close()
	return b.Bytes()
}

// Send sends m through c's server (net/smtp: STARTTLS when the server
// offers it, PLAIN authentication when c has a user), within timeout.
func (c SMTP) Send(m Message, now time.Time, timeout time.Duration) error {
	if c.Host == "" {
		return errors.New("no -smtp-host")
	}
	if len(m.To) == 0 {
		return errors.New("no recipient")
	}
	from, err := mail.ParseAddress(m.From)
	if err != nil {
		return fmt.Errorf("-smtp-from %q: %w", m.From, err)
	}
	addr := net.JoinHostPort(c.Host, strconv.Itoa(c.Port))
	fail := func(step string, err error) error {
		return fmt.Errorf("send the weekly report to %d recipients through %s: %s: %w", len(m.To), addr, step, err)
	}
	conn, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return fail("connect", err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(timeout))
	cl, err := smtp.NewClient(conn, c.Host)
	if err != nil {
		return fail("greeting", err)
	}
	defer cl.Close()
	if ok, _ := cl.Extension("STARTTLS"); ok {
		if err := cl.StartTLS(&tls.Config{ServerName: c.Host}); err != nil {
			return fail("STARTTLS", err)
		}
	}
	if c.User != "" {
		if err := cl.Auth(smtp.PlainAuth("", c.User, c.Password, c.Host)); err != nil {
			return fail("authenticate", err)
		}
	}
	if err := cl.Mail(from.Address); err != nil {
		return fail("MAIL FROM", err)
	}
	for _, to := range m.To {
		if err := cl.Rcpt(to); err != nil {
			return fail("RCPT TO "+to, err)
		}
	}
	wc, err := cl.Data()
	if err != nil {
		return fail("DATA", err)
	}
	if _, err := wc.Write(m.Bytes(now)); err != nil {
		return fail("DATA", err)
	}
	if err := wc.Close(); err != nil {
		return fail("DATA", err)
	}
	return cl.Quit()
}
