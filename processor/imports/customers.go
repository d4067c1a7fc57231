package imports

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/currency"

	"footfall/internal/campaigns"
	"footfall/internal/event"
	"footfall/internal/profiles"
	"footfall/processor/chstore"
	"footfall/processor/enrich"
)

// A shop's customers, from its CRM or its shop software, in two CSV
// files (customers.md in the README says how they are read):
//
//   - customers: one row per customer: email (required), external_id,
//     class, populations ("|" between them: "Pro B2B|revendeur"),
//     consents (the purposes they agreed to, "|" between them), and the
//     proof of those consents: consent_source (where they were given),
//     consent_time (when) and consent_text (the version of the text
//     they agreed to);
//   - orders: one row per past order: email, order_id, date, amount and
//     currency.
//
// An imported customer is a person (user id their address) with their
// class and populations (the manual ones), their consents in the ledger
// (proof "server": the shop states them), and their orders as purchases
// on their dates, which count in every report and rule like orders sent
// live. Importing a file again changes nothing it did: an order whose id
// the site has is left out (reported as already there), and a customer's
// events have ids derived from what they say.

// Customer is a row of the customers file.
type Customer struct {
	Line        int
	Email       string
	ExternalID  string
	Class       string
	Populations []string
	Consents    []Consent
}

// Consent is a purpose a customer agreed to, with its proof.
type Consent struct {
	Purpose, Source, Text string
	Time                  time.Time
}

// Order is a row of the orders file.
type Order struct {
	Line     int
	Email    string
	OrderID  string
	Time     time.Time
	Micros   int64
	Currency string
}

// MaxImportRows bounds a customers or orders file.
const MaxImportRows = 200_000

// MaxOrderAge bounds how old an imported order or consent may be.
const MaxOrderAge = 20 * 365 * 24 * time.Hour

// table is a CSV file read with encoding/csv: its header's columns by
// name (headerName), and its rows with their lines.
type table struct {
	cols map[string]int
	rows [][]string
	line []int
}

// readTable reads a CSV as spreadsheets write it: UTF-8 with or without a
// byte order mark (or UTF-16 with one), the separator the header line
// splits into the most columns of , ; and tab. A row that cannot be read
// is rejected with its line; the header names the columns (case, accents,
// spaces and punctuation ignored), and a column named twice, or a
// required one missing, refuses the file.
func readTable(body []byte, required []string, known map[string][]string) (table, []Rejected, error) {
	body, err := utf8Text(body)
	if err != nil {
		return table{}, nil, err
	}
	first := body
	if i := bytes.IndexAny(body, "\r\n"); i >= 0 {
		first = body[:i]
	}
	delim, most := ',', 0
	for _, d := range []rune{',', ';', '\t'} {
		if n := bytes.Count(first, []byte(string(d))); n > most {
			delim, most = d, n
		}
	}
	r := csv.NewReader(bytes.NewReader(body))
	r.Comma, r.FieldsPerRecord, r.ReuseRecord = delim, -1, false
	head, err := r.Read()
	if err != nil {
		return table{}, nil, fmt.Errorf("csv: no header line: %w", err)
	}
	t := table{cols: map[string]int{}}
	for i, name := range head {
		k := headerName(name)
		for col, names := range known {
			for _, n := range names {
				if k != n {
					continue
				}
				if j, ok := t.cols[col]; ok {
					return table{}, nil, fmt.Errorf("csv: columns %d (%q) and %d (%q) both name %s; keep one", j+1, head[j], i+1, name, col)
				}
				t.cols[col] = i
			}
		}
	}
	for _, col := range required {
		if _, ok := t.cols[col]; !ok {
			return table{}, nil, fmt.Errorf("csv: the header line (%q) has no %s column", strings.Join(head, string(delim)), col)
		}
	}
	var bad []Rejected
	var lines [][]byte // the body's lines, split when a row runs over several
	for len(t.rows)+len(bad) <= MaxImportRows {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			why := "unreadable: " + pe.Err.Error()
			if pe.Line > pe.StartLine {
				// A quote opened and not closed as CSV wants takes in
				// the lines after it: they are said, never dropped unsaid.
				why = fmt.Sprintf("line %d: unclosed quote; lines %d..%d not read", pe.StartLine, pe.StartLine, pe.Line)
			}
			bad = append(bad, Rejected{Line: pe.StartLine, Reason: why})
			continue
		}
		if err != nil {
			return table{}, nil, fmt.Errorf("csv: %w", err)
		}
		line, _ := r.FieldPos(0)
		last := line // the record's last line: its fields' line ends after the first
		for _, v := range rec {
			last += strings.Count(v, "\n")
		}
		if last > line {
			// A quoted field over several lines: when one of the lines
			// it takes in reads as a row of its own (an address in the
			// email column), a quote was left open and closed further
			// down; the row is refused and the lines it took are said.
			if lines == nil {
				lines = bytes.Split(body, []byte("\n"))
			}
			if k := rowIn(lines, line+1, last, delim, t.cols["email"]); k > 0 {
				bad = append(bad, Rejected{Line: line, Reason: fmt.Sprintf("line %d: unclosed quote (a quoted field runs on to line %d, taking in line %d, a row of its own); lines %d..%d not read", line, last, k, line, last)})
				continue
			}
		}
		if strings.TrimSpace(strings.Join(rec, "")) == "" {
			continue // a spreadsheet's blank row
		}
		t.rows, t.line = append(t.rows, rec), append(t.line, line)
	}
	if len(t.rows)+len(bad) > MaxImportRows {
		return table{}, nil, fmt.Errorf("csv: more than %d rows (read or not) in one file", MaxImportRows)
	}
	return t, bad, nil
}

// rowIn returns the first of lines from..to (numbered from 1) that reads
// on its own as a row with an e-mail address in column email, or 0.
func rowIn(lines [][]byte, from, to int, delim rune, email int) int {
	for k := from; k <= to && k <= len(lines); k++ {
		rd := csv.NewReader(bytes.NewReader(bytes.TrimRight(lines[k-1], "\r")))
		rd.Comma, rd.FieldsPerRecord, rd.LazyQuotes = delim, -1, true // a fragment: its quotes may not pair
		rec, err := rd.Read()
		if err == nil && email < len(rec) && campaigns.CheckEmail(event.NormalizeUser(rec[email])) == "" {
			return k
		}
	}
	return 0
}

// get is row i's value of column col, trimmed; "" when the file has no
// such column or the row is short.
func (t table) get(i int, col string) string {
	j, ok := t.cols[col]
	if !ok || j >= len(t.rows[i]) {
		return ""
	}
	return strings.TrimSpace(t.rows[i][j])
}

var customerColumns = map[string][]string{
	"email":          keys(emailHeaders),
	"external_id":    keys(externalIDHeaders),
	"class":          {"class", "classe"},
	"populations":    {"populations", "population"},
	"consents":       {"consents", "consent", "consentements", "consentement"},
	"consent_source": {"consentsource", "sourceduconsentement"},
	"consent_time":   {"consenttime", "consentdate", "dateduconsentement"},
	"consent_text":   {"consenttext", "consentwording", "texteduconsentement"},
}

var orderColumns = map[string][]string{
	"email":    keys(emailHeaders),
	"order_id": {"orderid", "order", "commande", "numerodecommande"},
	"date":     {"date", "orderdate", "datedecommande", "time"},
	"amount":   {"amount", "revenue", "total", "montant"},
	"currency": {"currency", "devise"},
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// ReadCustomers reads a customers file: the customers, and every row left
// out with its line and why.
func ReadCustomers(body []byte, now time.Time) ([]Customer, []Rejected, error) {
	t, bad, err := readTable(body, []string{"email"}, customerColumns)
	if err != nil {
		return nil, nil, err
	}
	var out []Customer
	seen := map[string]int{} // an address read, its line
	for i := range t.rows {
		c := Customer{Line: t.line[i], Email: t.get(i, "email"), ExternalID: t.get(i, "external_id"), Class: t.get(i, "class")}
		reject := func(why string) { bad = append(bad, Rejected{Line: c.Line, Email: c.Email, Reason: why}) }
		email, why := checkRecipient(campaigns.Recipient{Email: c.Email, ExternalID: c.ExternalID})
		if why != "" {
			reject(why)
			continue
		}
		c.Email = email
		if prev, ok := seen[email]; ok {
			reject(fmt.Sprintf("%s is on line %d already", email, prev))
			continue
		}
		if c.Class != "" {
			if err := checkLabel("class", c.Class); err != nil {
				reject(err.Error())
				continue
			}
			c.Class = profiles.BuiltinClass(c.Class) // "Client", "fidèle": the lifecycle class
		}
		if c.Populations, err = splitList(t.get(i, "populations"), checkPopulation); err != nil {
			reject(err.Error())
			continue
		}
		purposes, err := splitList(t.get(i, "consents"), checkPurpose)
		if err != nil {
			reject(err.Error())
			continue
		}
		if len(purposes) > 0 {
			source, text := t.get(i, "consent_source"), t.get(i, "consent_text")
			if source == "" || text == "" || t.get(i, "consent_time") == "" {
				reject("a consent needs its proof: consent_source (where it was given), consent_time (when) and consent_text (the version of the text agreed to)")
				continue
			}
			at, err := parseTime(t.get(i, "consent_time"), now)
			if err != nil {
				reject("consent_time: " + err.Error())
				continue
			}
			for _, p := range purposes {
				c.Consents = append(c.Consents, Consent{Purpose: p, Source: source, Text: text, Time: at})
			}
		}
		seen[email] = c.Line
		out = append(out, c)
	}
	return out, bad, nil
}

// ReadOrders reads an orders file: the orders, and every row left out
// with its line and why (an order id twice in the file: the second).
func ReadOrders(body []byte, now time.Time) ([]Order, []Rejected, error) {
	t, bad, err := readTable(body, []string{"email", "order_id", "date", "amount", "currency"}, orderColumns)
	if err != nil {
		return nil, nil, err
	}
	var out []Order
	seen := map[string]int{}
	for i := range t.rows {
		o := Order{Line: t.line[i], Email: t.get(i, "email"), OrderID: t.get(i, "order_id"), Currency: strings.ToUpper(t.get(i, "currency"))}
		reject := func(why string) { bad = append(bad, Rejected{Line: o.Line, Email: o.Email, Reason: why}) }
		email, why := checkRecipient(campaigns.Recipient{Email: o.Email})
		if why != "" {
			reject(why)
			continue
		}
		o.Email = email
		var e event.Event
		if err := e.Set(event.OrderID, []byte(o.OrderID)); err != nil || o.OrderID == "" {
			reject("order_id: want 1 to 128 bytes of text")
			continue
		}
		if prev, ok := seen[o.OrderID]; ok {
			reject(fmt.Sprintf("order %s is on line %d already", o.OrderID, prev))
			continue
		}
		if _, err := currency.ParseISO(o.Currency); err != nil || len(o.Currency) != 3 {
			reject(fmt.Sprintf("currency %q: want an ISO 4217 code such as EUR", o.Currency))
			continue
		}
		if o.Micros, err = parseAmount(t.get(i, "amount")); err != nil {
			reject("amount: " + err.Error())
			continue
		}
		if o.Micros <= 0 {
			reject(fmt.Sprintf("amount %q: an order is more than 0 (a refund or a free order is no order to import)", t.get(i, "amount")))
			continue
		}
		if o.Time, err = parseTime(t.get(i, "date"), now); err != nil {
			reject("date: " + err.Error())
			continue
		}
		seen[o.OrderID] = o.Line
		out = append(out, o)
	}
	return out, bad, nil
}

// splitList splits a "|"-separated cell, each part trimmed and checked,
// without repeats.
func splitList(cell string, check func(string) error) ([]string, error) {
	var out []string
	for _, p := range strings.Split(cell, "|") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		if err := check(p); err != nil {
			return nil, err
		}
		dup := false
		for _, q := range out {
			dup = dup || q == p
		}
		if !dup {
			out = append(out, p)
		}
	}
	return out, nil
}

// checkLabel accepts a class or population as a person may be given
// one by hand: 1 to 64 characters of printable UTF-8 without leading or
// trailing spaces (the manual change, profiles.SetOverride, checks it
// again when it writes it).
func checkLabel(what, s string) error {
	bad := s == "" || utf8.RuneCountInString(s) > 64 || !utf8.ValidString(s) || strings.TrimSpace(s) != s
	for _, r := range s {
		bad = bad || !unicode.IsPrint(r) && r != ' '
	}
	if bad {
		return fmt.Errorf("%s %q: want 1 to 64 printable characters, no leading or trailing space", what, s)
	}
	return nil
}

// checkPopulation is checkLabel for a population, which also may not
// hold "|": it separates populations in the file and in exports.
func checkPopulation(p string) error {
	if strings.Contains(p, "|") {
		return fmt.Errorf("population %q: \"|\" separates populations", p)
	}
	return checkLabel("population", p)
}

// checkPurpose accepts a consent purpose as the lists prop names one.
func checkPurpose(p string) error {
	if len(p) > 32 || strings.ContainsAny(p, ", ") {
		return fmt.Errorf("consent %q: want a list name of at most 32 bytes, without commas or spaces", p)
	}
	return nil
}

// parseAmount reads a decimal amount with a dot or a decimal comma
// (French spreadsheets write 129,90), no thousands separator.
func parseAmount(s string) (int64, error) {
	if strings.Count(s, ",") == 1 && !strings.Contains(s, ".") {
		s = strings.Replace(s, ",", ".", 1)
	}
	if s == "" {
		return 0, errors.New("empty")
	}
	return event.ParseAmount([]byte(s))
}

// timeLayouts are the times a file may give: RFC 3339, a date and time
// in UTC, a date (that day in the site's time zone: parseTime), and the
// French spreadsheet's day/month/year.
var timeLayouts = []struct {
	layout string
	date   bool
}{
	{time.RFC3339Nano, false}, {"2006-01-02 15:04:05", false}, {"2006-01-02T15:04:05", false},
	{"2006-01-02", true}, {"02/01/2006", true}, {"02/01/2006 15:04", false}, {"02/01/2006 15:04:05", false},
}

// parseTime reads a time of the past, at most MaxOrderAge back. A date
// without a time is that day in now's location (the caller gives now in
// the site's time zone), stored as its start there; it is in the future
// only when its day is after now's day there (today's date is taken at
// any hour).
func parseTime(s string, now time.Time) (time.Time, error) {
	for _, l := range timeLayouts {
		t, err := time.Parse(l.layout, s)
		if err != nil {
			continue
		}
		future := t.After(now.Add(5 * time.Minute))
		if l.date {
			y, m, d := t.Date()
			ny, nm, nd := now.Date()
			day, today := time.Date(y, m, d, 0, 0, 0, 0, time.UTC), time.Date(ny, nm, nd, 0, 0, 0, 0, time.UTC)
			future = day.After(today)
			t = time.Date(y, m, d, 0, 0, 0, 0, now.Location())
		}
		switch {
		case future:
			return t, fmt.Errorf("%q is in the future", s)
		case t.Before(now.Add(-MaxOrderAge)):
			return t, fmt.Errorf("%q is more than 20 years ago", s)
		}
		return t.UTC(), nil
	}
	return time.Time{}, fmt.Errorf("%q: want 2026-03-14, 14/03/2026, 2026-03-14 10:30:00 (UTC) or 2026-03-14T10:30:00+01:00", s)
}

// CustomerResult is what an import of customers and orders did.
type CustomerResult struct {
	Customers int `json:"customers"`
	Consents  int `json:"consents"`
	Orders    int `json:"orders"`
	// Known are the orders left out because the site has their order id.
	Known []Rejected `json:"already_imported"`
	// Rejected are customers left out (an erased person's), and
	// RejectedOrders orders.
	Rejected       []Rejected `json:"rejected"`
	RejectedOrders []Rejected `json:"rejected_orders"`
}

// AddCustomers imports customers and orders into site: the customers'
// people (an identify event each, with the external id), their consents
// (a subscribe per purpose, at its time, with its source and text), their
// class and populations (SetOverride, when the file gives them), and the
// orders as purchases at their dates. An order whose id the site has a
// purchase of is left out; a customer or an order of an erased person too.
func (im *Importer) AddCustomers(ctx context.Context, people *profiles.Store, site string, cs []Customer, os []Order) (CustomerResult, error) {
	res := CustomerResult{Known: []Rejected{}, Rejected: []Rejected{}, RejectedOrders: []Rejected{}}
	gone, err := im.erasedFilter(ctx)
	if err != nil {
		return res, err
	}
	en := enrich.New(0)
	var rows []chstore.Row
	add := func(typ string, at time.Time, ingest event.Ingest, email string, set func(*event.Event)) {
		rows = append(rows, chstore.Row{})
		row := &rows[len(rows)-1]
		e := &row.Event
		e.TimeMs, e.Ingest = at.UnixMilli(), ingest
		e.F[event.Site], e.F[event.Type], e.F[event.UserID] = []byte(site), []byte(typ), []byte(email)
		if set != nil {
			set(e)
		}
		e.ID = event.DerivedID(e.TimeMs, sha256.Sum256(event.Append(nil, e)))
		en.Enrich(e, &row.Enriched)
		// The shop states it, with the operator's token: proven.
		row.Enriched.UserID, row.Enriched.VisitorID, row.Enriched.Proof = email, event.UserVisitorPrefix+email, event.ProofServer
	}
	type override struct {
		line         int
		email, class string
		populations  []string
	}
	var overrides []override
	firstOrder := map[string]time.Time{}
	for _, o := range os {
		if f, ok := firstOrder[o.Email]; !ok || o.Time.Before(f) {
			firstOrder[o.Email] = o.Time
		}
	}
	for _, c := range cs {
		if erased(gone, site, c.Email, campaigns.Recipient{Email: c.Email, ExternalID: c.ExternalID}) {
			res.Rejected = append(res.Rejected, Rejected{Line: c.Line, Email: c.Email, Reason: ReasonErased})
			continue
		}
		res.Customers++
		// The person: an identify of the import, dated at their first
		// consent or order if older than now, so that re-importing the
		// same row makes the same event (its id derives from it).
		first := firstSeen(c, firstOrder[c.Email])
		add("identify", first, event.IngestEmail, c.Email, func(e *event.Event) {
			e.Props = []event.Prop{{Key: []byte("source"), Value: []byte("import")}}
			if c.ExternalID != "" {
				e.Props = append(e.Props, event.Prop{Key: []byte("external_id"), Value: []byte(c.ExternalID)})
			}
		})
		for _, k := range c.Consents {
			res.Consents++
			add("subscribe", k.Time, event.IngestEmail, c.Email, func(e *event.Event) {
				e.Props = []event.Prop{{Key: []byte("lists"), Value: []byte(k.Purpose)},
					{Key: []byte("source"), Value: []byte(k.Source)}, {Key: []byte("wording"), Value: []byte(k.Text)}}
			})
		}
		if c.Class != "" || c.Populations != nil {
			overrides = append(overrides, override{c.Line, c.Email, c.Class, c.Populations})
		}
	}
	var ids []string
	for _, o := range os {
		ids = append(ids, o.OrderID)
	}
	known, err := im.events.ExistingOrders(ctx, site, ids)
	if err != nil {
		return res, err
	}
	for _, o := range os {
		switch {
		case known[o.OrderID]:
			res.Known = append(res.Known, Rejected{Line: o.Line, Email: o.Email, Reason: "order " + o.OrderID + " is in already"})
			continue
		case erased(gone, site, o.Email, campaigns.Recipient{Email: o.Email}):
			res.RejectedOrders = append(res.RejectedOrders, Rejected{Line: o.Line, Email: o.Email, Reason: ReasonErased})
			continue
		}
		res.Orders++
		// As the server API stores an order sent with its time.
		add("purchase", o.Time, event.IngestAPI, o.Email, func(e *event.Event) {
			e.F[event.OrderID], e.F[event.Currency], e.Revenue = []byte(o.OrderID), []byte(o.Currency), o.Micros
		})
	}
	// An import run again makes the same events, with the same ids:
	// those stored already are left out.
	if len(rows) > 0 {
		evs := make([]*event.Event, len(rows))
		for i := range rows {
			evs[i] = &rows[i].Event
		}
		stored, err := im.events.Existing(ctx, evs)
		if err != nil {
			return res, err
		}
		keep := rows[:0]
		for _, r := range rows {
			if !stored[r.Event.ID] {
				keep = append(keep, r)
			}
		}
		rows = keep
	}
	if len(rows) > 0 {
		if err := im.events.Insert(ctx, rows); err != nil {
			return res, fmt.Errorf("record %d events of the import: %w", len(rows), err)
		}
	}
	for _, o := range overrides {
		class := &o.class
		if o.class == "" {
			class = nil // an empty cell leaves the class as it is
		}
		// A class the manual change does not take is that row's error;
		// the person and their orders are in.
		if _, err := people.SetOverride(ctx, site, o.email, class, o.populations); err != nil {
			res.Rejected = append(res.Rejected, Rejected{Line: o.line, Email: o.email, Reason: "class and populations not set: " + err.Error()})
		}
	}
	return res, nil
}

// firstSeen is when an imported customer's person begins: their earliest
// consent or order (firstOrder, zero for none), or the start of today
// (UTC) when the file gives neither.
func firstSeen(c Customer, firstOrder time.Time) time.Time {
	first := firstOrder
	for _, k := range c.Consents {
		if first.IsZero() || k.Time.Before(first) {
			first = k.Time
		}
	}
	if first.IsZero() {
		first = time.Now().UTC().Truncate(24 * time.Hour)
	}
	return first
}
