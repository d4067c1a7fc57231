// Package chstore is the processor's ClickHouse side: batched inserts of
// enriched events, each credited on the way to what brought its visit
// (processor/attribute), and the look-up that lets a redelivered Kafka
// batch be recognised and skipped. The schema and its migrations are
// internal/chsql's.
package chstore

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"time"
	"unsafe"

	"github.com/ClickHouse/ch-go/proto"
	chcolumn "github.com/ClickHouse/clickhouse-go/v2/lib/column"
	"github.com/google/uuid"

	"footfall/internal/chsql"
	"footfall/internal/event"
	"footfall/processor/attribute"
	"footfall/processor/enrich"
)

// Config says where ClickHouse is.
type Config = chsql.Config

// Store writes events to one ClickHouse database.
type Store struct {
	db     *chsql.Conn
	dbName string
	// cols keeps one ColumnSet from insert to insert. A sync.Pool would
	// drop it at every other GC, and the processor collects more often
	// than it inserts, so each insert would grow its columns afresh.
	cols chan *ColumnSet
	// attr credits each event to what brought its visit, remembering the
	// visitors this store wrote lately.
	attr *attribute.Attributor
}

// Open connects, creating the database if it does not exist.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if err := chsql.CreateDatabase(ctx, cfg); err != nil {
		return nil, err
	}
	conn, err := chsql.Open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return newStore(conn, cfg.Database), nil
}

func newStore(conn *chsql.Conn, db string) *Store {
	return &Store{db: conn, dbName: db, cols: make(chan *ColumnSet, 1), attr: attribute.New(conn)}
}

// ForgetVisitors drops what the store knows of the visitors it wrote, for
// a consumer that finds a partition moved: another may have written their
// events since.
func (s *Store) ForgetVisitors() { s.attr.Forget() }

// Deduplicates says whether every table drops an insert's block it
// already holds, so that a failed insert is resent unchanged rather than
// looked up: on a cluster (chsql.Config.Cluster), where each table is
// replicated.
func (s *Store) Deduplicates() bool { return s.db.Cluster() != "" }

// DB is the connection, for the registered statements of other packages.
func (s *Store) DB() *chsql.Conn { return s.db }

// Close closes the connection.
func (s *Store) Close() error { return s.db.Close() }

// Row is one event ready to insert: the decoded event and what enrich added.
type Row struct {
	Event    event.Event
	Enriched enrich.Result
}

// Insert credits rows to what brought their visits (visit_source ...,
// processor/attribute), then writes them in one INSERT. ClickHouse applies
// a block of this size atomically: after a crash either all rows are there
// or none. Crediting again rows whose insert failed gives the same.
func (s *Store) Insert(ctx context.Context, rows []Row) error {
	return s.InsertCredited(ctx, rows, nil)
}

// InsertCredited is Insert keeping what the rows were credited in
// *credits: given again with the same rows (a retried batch), it writes
// them with those credits, not crediting them again, so that the retry
// sends the first attempt's block byte for byte. On a cluster each table
// drops a block it already holds (Deduplicates), and a credit read again
// may differ once part of the first attempt is stored. The caller empties
// *credits for a new batch.
func (s *Store) InsertCredited(ctx context.Context, rows []Row, credits *[]attribute.Touch) error {
	if len(rows) == 0 {
		return nil
	}
	b, err := s.db.PrepareBatch(ctx, insertEvents)
	if err != nil {
		return fmt.Errorf("prepare insert of %d events: %w", len(rows), err)
	}
	defer b.Abort()
	var cs *ColumnSet
	select {
	case cs = <-s.cols:
	default: // another insert has it, or this is the first
		cs = new(ColumnSet)
	}
	defer func() {
		select {
		case s.cols <- cs:
		default:
		}
	}()
	if credits != nil && len(*credits) == len(rows) {
		cs.credits = append(cs.credits[:0], *credits...)
	} else {
		if err := cs.Credit(ctx, s.attr, rows); err != nil {
			return fmt.Errorf("credit batch of %d events: %w", len(rows), err)
		}
		if credits != nil {
			*credits = append((*credits)[:0], cs.credits...)
		}
	}
	targets := b.Columns()
	for i, col := range cs.Fill(rows) {
		if arr, ok := col.(*stringArrays); ok {
			offsets, values, err := stringArrayColumn(targets[i])
			if err != nil {
				return fmt.Errorf("fill column %s: %w", columns[i].name, err)
			}
			*offsets, *values = arr.offsets, arr.values
			continue
		}
		if text, ok := col.(*proto.ColStr); ok {
			dst, err := stringColumn(targets[i])
			if err != nil {
				return fmt.Errorf("fill column %s: %w", columns[i].name, err)
			}
			// The batch only reads the column while Send encodes it,
			// so it can share the set's buffers.
			*dst = *text
			continue
		}
		if err := b.Column(i).Append(col); err != nil {
			return fmt.Errorf("fill column %s of %d events: %w", columns[i].name, len(rows), err)
		}
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("insert batch of %d events: %w", len(rows), err)
	}
	return nil
}

// ColumnSet turns rows into one column per column of insertEvents, in
// order: a slice, the form clickhouse-go sends without boxing every value,
// or for text and arrays of text the encoded column itself. Its memory is
// reused from one insert to the next: a full batch's columns take tens of
// megabytes, and growing them afresh for every insert was most of the
// processor's garbage.
type ColumnSet struct {
	out   []any
	text  []proto.ColStr
	ids   []uuid.UUID
	times []time.Time
	ints  []int64
	bots  []uint8
	props [2]stringArrays // keys, values
	// hits are the rows as the attribution reads them, and credits what
	// it credited each with (Credit).
	hits    []attribute.Hit
	credits []attribute.Touch
}

// Credit credits rows through a, for the next Fill.
func (cs *ColumnSet) Credit(ctx context.Context, a *attribute.Attributor, rows []Row) error {
	cs.hits = resize(cs.hits, len(rows))
	cs.credits = resize(cs.credits, len(rows))
	for j := range rows {
		e, r := &rows[j].Event, &rows[j].Enriched
		cs.hits[j] = attribute.Hit{
			Site: enrich.String(e.F[event.Site]), Visitor: r.VisitorID, Session: enrich.String(e.F[event.SessionID]),
			At: e.TimeMs / 1000, Own: Own(r),
			Counted: r.VisitorID != "" && !r.UA.Bot && e.Ingest != event.IngestEmail,
		}
		if string(e.F[event.Type]) == "purchase" {
			cs.hits[j].Order = enrich.String(e.F[event.OrderID])
		}
	}
	return a.Credit(ctx, cs.hits, cs.credits)
}

// Own is the touch of an event's own values.
func Own(r *enrich.Result) attribute.Touch {
	return attribute.Touch{Source: r.Source, Medium: r.Medium, UTMSource: r.UTMSource, UTMMedium: r.UTMMedium,
		UTMCampaign: r.UTMCampaign, UTMTerm: r.UTMTerm, UTMContent: r.UTMContent, Affiliate: r.Affiliate, ClickID: r.ClickID}
}

// stringArrays is an Array(String) column as ClickHouse's native format
// has it: where each row's array ends, and every row's strings one after
// the other.
type stringArrays struct {
	offsets proto.ColUInt64
	values  proto.ColStr
}

// resize returns s with length n, reusing its array when it is big enough.
func resize[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// Fill returns the columns of rows, which Credit credited. They stay valid
// until the next Fill or Release.
func (cs *ColumnSet) Fill(rows []Row) []any {
	n := len(rows)
	if cs.out == nil {
		cs.out = make([]any, len(columns))
		cs.text = make([]proto.ColStr, len(columns))
	}
	for i, c := range columns {
		switch {
		case c.text != nil:
			s := &cs.text[i]
			s.Reset()
			for j := range rows {
				s.Append(c.text(&rows[j].Event, &rows[j].Enriched))
			}
			cs.out[i] = s
		case visitColumns[c.name] != nil:
			s, value := &cs.text[i], visitColumns[c.name]
			s.Reset()
			for j := range rows {
				s.Append(value(&cs.credits[j]))
			}
			cs.out[i] = s
		case c.name == "event_id":
			cs.ids = resize(cs.ids, n)
			for j := range rows {
				cs.ids[j] = uuid.UUID(rows[j].Event.ID)
			}
			cs.out[i] = cs.ids
		case c.name == "time":
			cs.times = resize(cs.times, n)
			for j := range rows {
				cs.times[j] = time.UnixMilli(rows[j].Event.TimeMs).UTC()
			}
			cs.out[i] = cs.times
		case c.name == "revenue_micros":
			cs.ints = resize(cs.ints, n)
			for j := range rows {
				cs.ints[j] = rows[j].Event.Revenue
			}
			cs.out[i] = cs.ints
		case c.name == "is_bot":
			cs.bots = resize(cs.bots, n)
			for j := range rows {
				cs.bots[j] = 0
				if rows[j].Enriched.UA.Bot {
					cs.bots[j] = 1
				}
			}
			cs.out[i] = cs.bots
		case c.name == "prop_keys", c.name == "prop_values":
			k := 0
			if c.name == "prop_values" {
				k = 1
			}
			a := &cs.props[k]
			a.offsets = a.offsets[:0]
			a.values.Reset()
			end := uint64(0)
			for j := range rows {
				for _, p := range rows[j].Event.Props {
					if k == 0 {
						a.values.AppendBytes(p.Key)
					} else {
						a.values.AppendBytes(p.Value)
					}
				}
				end += uint64(len(rows[j].Event.Props))
				a.offsets = append(a.offsets, end)
			}
			cs.out[i] = a
		default:
			panic("chstore: column " + c.name + " has no source")
		}
	}
	return cs.out
}

// stringArrayColumn reaches the encoded offsets and strings inside
// clickhouse-go's Array(String) column, for the same reason as
// stringColumn: its Append takes a slice per row through reflect, boxing
// each row and each string, which was most of the processor's
// allocations per event. A clickhouse-go laid out otherwise gets this
// error, and TestStringArrayColumn fails on the upgrade.
func stringArrayColumn(c chcolumn.Interface) (*proto.ColUInt64, *proto.ColStr, error) {
	arr, ok := c.(*chcolumn.Array)
	if !ok {
		return nil, nil, fmt.Errorf("clickhouse-go column %T is not an Array", c)
	}
	values, err := stringColumn(arr.Base())
	if err != nil {
		return nil, nil, err
	}
	offsets := reflect.ValueOf(arr).Elem().FieldByName("offsets")
	if !offsets.IsValid() || offsets.Kind() != reflect.Slice || offsets.Len() != 1 {
		return nil, nil, fmt.Errorf("clickhouse-go column %s has no single level of offsets", c.Type())
	}
	level := offsets.Index(0)
	if level.Kind() == reflect.Pointer {
		level = level.Elem()
	}
	if level.Kind() != reflect.Struct {
		return nil, nil, fmt.Errorf("clickhouse-go column %s: offsets of kind %s", c.Type(), level.Kind())
	}
	col := level.FieldByName("values")
	if col.IsValid() && col.Kind() == reflect.Struct {
		col = col.FieldByName("col")
	}
	if !col.IsValid() || col.Type() != reflect.TypeFor[proto.ColUInt64]() {
		return nil, nil, fmt.Errorf("clickhouse-go column %s has no proto.ColUInt64 of offsets", c.Type())
	}
	return (*proto.ColUInt64)(unsafe.Pointer(col.UnsafeAddr())), values, nil
}

// stringColumn reaches the encoded column inside clickhouse-go's String
// column. clickhouse-go appends strings one by one into buffers that start
// empty in every batch, and that growth was a large share of the
// processor's CPU and most of its garbage (docs/perf.md, "The processor");
// handing it a column built in reused
// buffers costs nothing. The field is unexported, hence reflect: a
// clickhouse-go whose String no longer has it gets this error, and
// TestStringColumn fails on the upgrade.
func stringColumn(c chcolumn.Interface) (*proto.ColStr, error) {
	v := reflect.ValueOf(c)
	if v.Kind() == reflect.Pointer && v.Elem().Kind() == reflect.Struct {
		if f := v.Elem().FieldByName("col"); f.IsValid() && f.Type() == reflect.TypeFor[proto.ColStr]() {
			return (*proto.ColStr)(unsafe.Pointer(f.UnsafeAddr())), nil
		}
	}
	return nil, fmt.Errorf("clickhouse-go column %T has no proto.ColStr field named col", c)
}

type textColumn func(e *event.Event, r *enrich.Result) string

// column is one column of events as the processor writes it: text columns
// say where their string comes from, the others are filled by name.
type column struct {
	name string
	text textColumn
}

// visitColumns are the columns of an event's credit (Fill).
var visitColumns = map[string]func(t *attribute.Touch) string{
	"visit_source":       func(t *attribute.Touch) string { return t.Source },
	"visit_medium":       func(t *attribute.Touch) string { return t.Medium },
	"visit_utm_source":   func(t *attribute.Touch) string { return t.UTMSource },
	"visit_utm_medium":   func(t *attribute.Touch) string { return t.UTMMedium },
	"visit_utm_campaign": func(t *attribute.Touch) string { return t.UTMCampaign },
	"visit_utm_term":     func(t *attribute.Touch) string { return t.UTMTerm },
	"visit_utm_content":  func(t *attribute.Touch) string { return t.UTMContent },
	"visit_affiliate":    func(t *attribute.Touch) string { return t.Affiliate },
	"visit_click_id":     func(t *attribute.Touch) string { return t.ClickID },
}

func field(f event.Field) textColumn {
	return func(e *event.Event, _ *enrich.Result) string { return enrich.String(e.F[f]) }
}

// columns lists what Insert writes, in order. The INSERT names them
// explicitly: ClickHouse 18.16 needs that for batch inserts, and it keeps
// inserts valid when a later migration adds a column.
var columns = []column{
	{"event_id", nil},
	{"time", nil},
	{"site_id", field(event.Site)},
	{"type", field(event.Type)},
	{"name", field(event.Name)},
	{"visitor_id", func(_ *event.Event, r *enrich.Result) string { return r.VisitorID }},
	{"session_id", field(event.SessionID)},
	{"user_id", func(_ *event.Event, r *enrich.Result) string { return r.UserID }},
	{"url", field(event.URL)},
	{"url_host", func(_ *event.Event, r *enrich.Result) string { return r.URLHost }},
	{"url_path", func(_ *event.Event, r *enrich.Result) string { return r.URLPath }},
	{"title", field(event.Title)},
	{"referrer", func(_ *event.Event, r *enrich.Result) string { return r.Referrer }},
	{"referrer_host", func(_ *event.Event, r *enrich.Result) string { return r.ReferrerHost }},
	{"source", func(_ *event.Event, r *enrich.Result) string { return r.Source }},
	{"medium", func(_ *event.Event, r *enrich.Result) string { return r.Medium }},
	{"utm_source", func(_ *event.Event, r *enrich.Result) string { return r.UTMSource }},
	{"utm_medium", func(_ *event.Event, r *enrich.Result) string { return r.UTMMedium }},
	{"utm_campaign", func(_ *event.Event, r *enrich.Result) string { return r.UTMCampaign }},
	{"utm_term", func(_ *event.Event, r *enrich.Result) string { return r.UTMTerm }},
	{"utm_content", func(_ *event.Event, r *enrich.Result) string { return r.UTMContent }},
	{"affiliate", func(_ *event.Event, r *enrich.Result) string { return r.Affiliate }},
	{"click_id", func(_ *event.Event, r *enrich.Result) string { return r.ClickID }},
	{"visit_source", nil},
	{"visit_medium", nil},
	{"visit_utm_source", nil},
	{"visit_utm_medium", nil},
	{"visit_utm_campaign", nil},
	{"visit_utm_term", nil},
	{"visit_utm_content", nil},
	{"visit_affiliate", nil},
	{"visit_click_id", nil},
	{"order_id", field(event.OrderID)},
	{"revenue_micros", nil},
	{"currency", field(event.Currency)},
	{"browser", func(_ *event.Event, r *enrich.Result) string { return r.UA.Browser }},
	{"browser_version", func(_ *event.Event, r *enrich.Result) string { return r.UA.BrowserVersion }},
	{"os", func(_ *event.Event, r *enrich.Result) string { return r.UA.OS }},
	{"device", func(_ *event.Event, r *enrich.Result) string { return r.UA.Device }},
	{"country", func(_ *event.Event, r *enrich.Result) string { return r.Country }},
	{"is_bot", nil},
	{"ip", field(event.IP)},
	{"user_agent", field(event.UserAgent)},
	{"ingest", func(e *event.Event, _ *enrich.Result) string { return e.Ingest.String() }},
	{"proof", proof},
	{"prop_keys", nil},
	{"prop_values", nil},
}

// proof is how an event was proven (enrich.Result.Proof), or, for a row
// made without enrich, what the door it came in proves: never more.
func proof(e *event.Event, r *enrich.Result) string {
	if r.Proof != "" {
		return r.Proof
	}
	return event.ProofOf(e.Ingest, e.F[event.Type])
}

var insertEvents = chsql.New("chstore.insert_events", "INSERT INTO events ("+strings.Join(Columns(), ", ")+")")

// Columns are the events table's columns an insert writes, in its order
// (the others are ClickHouse's defaults): what cmd/bench copies when it
// measures ClickHouse's own insert rate.
func Columns() []string {
	names := make([]string, len(columns))
	for i, c := range columns {
		names[i] = c.name
	}
	return names
}

// maxIDsPerQuery keeps the ids under ClickHouse's default max_query_size
// (256 KiB) at 37 bytes an id.
const maxIDsPerQuery = 6000

// selectExisting takes the ids as one string that ClickHouse splits: 18.16
// parsed a list of 4,000 UUID literals in 2 to 3 times the time of the
// same ids in one string (0.45 s against 0.18 s on a loaded machine).
var selectExisting = chsql.New("chstore.existing_events", `SELECT event_id FROM events
WHERE site_id IN @sites AND time >= @from AND time <= @to
  AND event_id IN (SELECT toUUID(arrayJoin(splitByChar(',', @ids))))`)

// Existing returns which of evs are already in ClickHouse. The site and
// time bounds let the primary key skip to the few granules that can hold
// them, so the check stays cheap however large events grows. It takes
// pointers so that checking a whole batch copies no rows.
func (s *Store) Existing(ctx context.Context, evs []*event.Event) (map[[16]byte]bool, error) {
	found := map[[16]byte]bool{}
	for start := 0; start < len(evs); start += maxIDsPerQuery {
		chunk := evs[start:min(start+maxIDsPerQuery, len(evs))]
		sites := map[string]bool{}
		var ids strings.Builder
		ids.Grow(37 * len(chunk))
		lo, hi := chunk[0].TimeMs, chunk[0].TimeMs
		for i, e := range chunk {
			sites[string(e.F[event.Site])] = true
			if i > 0 {
				ids.WriteByte(',')
			}
			ids.WriteString(uuid.UUID(e.ID).String())
			lo, hi = min(lo, e.TimeMs), max(hi, e.TimeMs)
		}
		var siteList chsql.Set[string]
		for s := range sites {
			siteList = append(siteList, s)
		}
		rs, err := s.db.Query(ctx, selectExisting, chsql.Args{"sites": siteList,
			"from": time.UnixMilli(lo).UTC().Truncate(time.Second), "to": time.UnixMilli(hi).UTC(), "ids": ids.String()})
		if err != nil {
			return nil, fmt.Errorf("look up %d event ids: %w", len(chunk), err)
		}
		for rs.Next() {
			var id uuid.UUID
			if err := rs.Scan(&id); err != nil {
				rs.Close()
				return nil, fmt.Errorf("read event id: %w", err)
			}
			found[id] = true
		}
		rs.Close()
		if err := rs.Err(); err != nil {
			return nil, fmt.Errorf("look up event ids: %w", err)
		}
	}
	return found, nil
}

// selectOrders finds which of a site's order ids have a purchase stored.
var selectOrders = chsql.New("chstore.existing_orders", `SELECT DISTINCT order_id FROM events
WHERE site_id = @site AND type = 'purchase' AND order_id IN @orders`)

// ExistingOrders returns which of orders (order ids of site) have a
// purchase in ClickHouse already.
func (s *Store) ExistingOrders(ctx context.Context, site string, orders []string) (map[string]bool, error) {
	found := map[string]bool{}
	for start := 0; start < len(orders); start += maxIDsPerQuery {
		chunk := chsql.Set[string](orders[start:min(start+maxIDsPerQuery, len(orders))])
		rs, err := s.db.Query(ctx, selectOrders, chsql.Args{"site": site, "orders": chunk})
		if err != nil {
			return nil, fmt.Errorf("look up %d order ids of site %s: %w", len(chunk), site, err)
		}
		for rs.Next() {
			var id string
			if err := rs.Scan(&id); err != nil {
				rs.Close()
				return nil, fmt.Errorf("read order id: %w", err)
			}
			found[id] = true
		}
		rs.Close()
		if err := rs.Err(); err != nil {
			return nil, fmt.Errorf("look up order ids: %w", err)
		}
	}
	return found, nil
}
