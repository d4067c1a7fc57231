package money

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"footfall/internal/chsql"
)

// Rate is one published reference rate: how many units of Currency one
// euro bought on Day.
type Rate struct {
	Day      time.Time `json:"day"`
	Currency string    `json:"currency"`
	PerEUR   float64   `json:"per_eur"`
}

// MaxRates is the most rates one load takes: the ECB's whole history
// since 1999 is about 200,000.
const MaxRates = 2_000_000

// ParseECB reads rates in the ECB's CSV layout: a header "Date,USD,JPY,..."
// naming the currencies, then a row per day, "2024-01-05,1.0921,158.13,...",
// rates against the euro (eurofxref-hist.csv). The daily file's layout,
// "Date, USD, ..." with "5 January 2024", is read too. A cell "N/A" or
// empty is a rate not published that day (a currency before it existed or
// after it was replaced); the empty column the ECB's trailing commas make
// is ignored. Anything else that is not a positive number is an error that
// names its line and column, and nothing of the file is taken; so is a
// day on two lines, in any spelling (2024-01-05 and 5 January 2024), which
// names both: which of its rates is right is the operator's to say.
func ParseECB(r io.Reader) ([]Rate, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	cr.ReuseRecord = true
	head, err := cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty file: want a header Date,USD,JPY,... (the ECB's eurofxref CSV)")
		}
		return nil, fmt.Errorf("header: %w", err)
	}
	if len(head) < 2 || !strings.EqualFold(strings.TrimSpace(strings.TrimPrefix(head[0], "\ufeff")), "date") {
		return nil, errors.New("header: want Date then the currencies, Date,USD,JPY,... (the ECB's eurofxref CSV)")
	}
	currencies := make([]string, len(head))
	seen := map[string]bool{}
	for i, h := range head[1:] {
		c := strings.ToUpper(strings.TrimSpace(h))
		if c == "" {
			continue // the trailing comma's column
		}
		if !isCode(c) {
			return nil, fmt.Errorf("header column %d: %q is no ISO 4217 currency code", i+2, h)
		}
		if seen[c] {
			return nil, fmt.Errorf("header: %s named twice", c)
		}
		seen[c] = true
		currencies[i+1] = c
	}
	var out []Rate
	dayLine := map[time.Time]int{}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		line, _ := cr.FieldPos(0)
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		day, err := parseDay(strings.TrimSpace(rec[0]))
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		if first, ok := dayLine[day]; ok {
			return nil, fmt.Errorf("lines %d and %d: both are %s; a day once, with all its rates", first, line, day.Format(time.DateOnly))
		}
		dayLine[day] = line
		for i := 1; i < len(rec); i++ {
			v := strings.TrimSpace(rec[i])
			if i >= len(currencies) || currencies[i] == "" {
				if v != "" {
					return nil, fmt.Errorf("line %d column %d: a value under no currency", line, i+1)
				}
				continue
			}
			if v == "" || strings.EqualFold(v, "N/A") {
				continue
			}
			f, err := parseRate(v)
			if err != nil {
				return nil, fmt.Errorf("line %d, %s: %q is no rate: %v", line, currencies[i], v, err)
			}
			if currencies[i] == "EUR" && f != 1 {
				return nil, fmt.Errorf("line %d: EUR at %s; the rates are against the euro, which is 1", line, v)
			}
			if len(out) == MaxRates {
				return nil, fmt.Errorf("more than %d rates in one file", MaxRates)
			}
			out = append(out, Rate{Day: day, Currency: currencies[i], PerEUR: f})
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no rate in the file")
	}
	return out, nil
}

// MinPerEUR and MaxPerEUR bound a rate against the euro: the ECB's
// smallest has been about 0.3 (KWD), its largest about 2,000,000 (the
// Turkish lira before 2005). A rate outside them is a typo or a file of
// another kind, and converting with it would make figures of nothing or
// of everything.
const (
	MinPerEUR = 1e-6
	MaxPerEUR = 1e7
)

// parseRate reads a rate as the ECB writes it: a plain decimal number,
// digits with at most one dot ("1.0921", "158", "0.5"), between MinPerEUR
// and MaxPerEUR. strconv.ParseFloat alone took Go's other spellings too:
// hexadecimal (0x1p0), underscores (1_0), exponents (1e-320, a
// denormal, converting every amount to infinity), Inf and NaN.
func parseRate(v string) (float64, error) {
	digits, dots := 0, 0
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.':
			dots++
		default:
			return 0, errors.New("want a plain decimal number such as 1.0921, N/A or nothing")
		}
	}
	if digits == 0 || dots > 1 {
		return 0, errors.New("want a plain decimal number such as 1.0921, N/A or nothing")
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || !(f > MinPerEUR && f < MaxPerEUR) {
		return 0, fmt.Errorf("want a rate above %g and below %g per euro", MinPerEUR, float64(MaxPerEUR))
	}
	return f, nil
}

func parseDay(s string) (time.Time, error) {
	for _, layout := range []string{time.DateOnly, "2 January 2006"} {
		if t, err := time.Parse(layout, s); err == nil {
			if t.Year() < 1970 || t.Year() > 2105 {
				break
			}
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("date %q: want YYYY-MM-DD", s)
}

func isCode(c string) bool {
	if len(c) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		if c[i] < 'A' || c[i] > 'Z' {
			return false
		}
	}
	return true
}

var (
	insertRates = chsql.New("money.insert_rates", `INSERT INTO exchange_rates (day, currency, per_eur, version)`)
	qLoaded     = chsql.New("money.loaded", `SELECT currency, min(day), max(day), uniqExact(day) FROM exchange_rates
GROUP BY currency ORDER BY currency`)
)

// Loaded is what the table holds of one currency.
type Loaded struct {
	Currency string    `json:"currency"`
	First    time.Time `json:"first_day"`
	Last     time.Time `json:"last_day"`
	Days     uint64    `json:"days"`
}

// Load writes rates into the exchange-rate table, and the euro's own rate,
// 1, on each of their days; a day and currency loaded before takes the new
// rate. It returns the number of rows written. Reports convert with them
// from their next query on.
func Load(ctx context.Context, db *chsql.Conn, rates []Rate) (int, error) {
	if len(rates) == 0 {
		return 0, errors.New("no rate to load")
	}
	b, err := db.PrepareBatch(ctx, insertRates)
	if err != nil {
		return 0, fmt.Errorf("prepare rates: %w", err)
	}
	defer b.Abort()
	version := uint64(time.Now().UnixNano())
	days := map[time.Time]bool{}
	type dayRate struct {
		day time.Time
		cur string
	}
	given := map[dayRate]float64{}
	n := 0
	for _, r := range rates {
		if !isCode(r.Currency) || !(r.PerEUR > MinPerEUR && r.PerEUR < MaxPerEUR) {
			return 0, fmt.Errorf("rate %s %s %v: want an ISO 4217 code and a rate above %g and below %g", r.Day.Format(time.DateOnly), r.Currency, r.PerEUR, MinPerEUR, float64(MaxPerEUR))
		}
		day := time.Date(r.Day.Year(), r.Day.Month(), r.Day.Day(), 0, 0, 0, 0, time.UTC)
		if v, ok := given[dayRate{day, r.Currency}]; ok {
			return 0, fmt.Errorf("%s %s given twice (%v and %v): a day and currency once", day.Format(time.DateOnly), r.Currency, v, r.PerEUR)
		}
		given[dayRate{day, r.Currency}] = r.PerEUR
		if r.Currency == "EUR" {
			continue
		}
		days[day] = true
		if err := b.Append(day, r.Currency, r.PerEUR, version); err != nil {
			return 0, fmt.Errorf("append rate: %w", err)
		}
		n++
	}
	for day := range days {
		if err := b.Append(day, "EUR", 1.0, version); err != nil {
			return 0, fmt.Errorf("append rate: %w", err)
		}
		n++
	}
	if err := b.Send(); err != nil {
		return 0, fmt.Errorf("write %d rates: %w", n, err)
	}
	if err := markBuyers(ctx, db, days); err != nil {
		return n, fmt.Errorf("%d rates written, but the buyers of their days are not marked for the people table's next refresh: %w", n, err)
	}
	return n, nil
}

// markTouched marks as touched (people_touched) every buyer with an order
// in [@from, @to): the people table's next refresh (internal/profiles)
// recomputes their revenue, converted with the rates loaded since. Without
// it a buyer whose orders came before their day's rates (the ECB publishes
// at 16:00 CET) kept revenue 0, and no loyal class, until their next event.
var markTouched = chsql.New("money.mark_buyers", `INSERT INTO people_touched (site_id, visitor_id, touched_at)
SELECT site_id, visitor_id, now() FROM events
WHERE type = 'purchase' AND visitor_id != '' AND is_bot = 0 AND time >= @from AND time < @to
GROUP BY site_id, visitor_id`)

// markSite marks as touched every buyer of @site, @ahead seconds in the
// future.
var markSite = chsql.New("money.mark_site_buyers", `INSERT INTO people_touched (site_id, visitor_id, touched_at)
SELECT site_id, visitor_id, now() + @ahead FROM events
WHERE site_id = @site AND type = 'purchase' AND visitor_id != '' AND is_bot = 0
GROUP BY site_id, visitor_id`)

// MarkSiteBuyers marks every buyer of site as touched after its reporting
// currency changed, so that the people table's refreshes convert their
// revenue into the new one. The marks are dated ahead (now + ahead, a few
// times the registry's reload interval): each refresh until then
// recomputes them, so one that still ran with the old currency, its
// process not having read the registry again yet, is followed by one with
// the new.
func MarkSiteBuyers(ctx context.Context, db *chsql.Conn, site string, ahead time.Duration) error {
	return db.Exec(ctx, markSite, chsql.Args{"site": site, "ahead": int64(ahead / time.Second)})
}

// markBuyers marks the buyers of every order a rate of days can convert:
// those of each day and of the Lookback days after it (which take its
// rate when they have none of their own), in any currency (a new rate of
// a site's reporting currency changes every order's conversion). Days
// are merged into ranges, gaps of up to a month filled (a few buyers too
// many are only recomputed), so that a file of years is a few statements.
func markBuyers(ctx context.Context, db *chsql.Conn, days map[time.Time]bool) error {
	sorted := make([]time.Time, 0, len(days))
	for d := range days {
		sorted = append(sorted, d)
	}
	slices.SortFunc(sorted, func(a, b time.Time) int { return a.Compare(b) })
	for i := 0; i < len(sorted); {
		from := sorted[i]
		to := from.AddDate(0, 0, Lookback+1)
		for i++; i < len(sorted) && !sorted[i].After(to.AddDate(0, 0, 31)); i++ {
			to = sorted[i].AddDate(0, 0, Lookback+1)
		}
		if err := db.Exec(ctx, markTouched, chsql.Args{"from": from, "to": to}); err != nil {
			return err
		}
	}
	return nil
}

// List says, per currency, which days the table holds rates for.
func List(ctx context.Context, db *chsql.Conn) ([]Loaded, error) {
	rows, err := db.Query(ctx, qLoaded, nil)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Loaded{}
	for rows.Next() {
		var l Loaded
		if err := rows.Scan(&l.Currency, &l.First, &l.Last, &l.Days); err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, rows.Err()
}
