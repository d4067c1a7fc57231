package profiles

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"footfall/internal/chsql"
	"footfall/internal/event"
)

// Identifiers are every identifier of one person on a site: what the
// access export lists and the erasure erases, found by the same code.
type Identifiers struct {
	UserIDs  []string `json:"user_ids"` // normalised e-mail addresses and shop account ids
	Visitors []string `json:"visitor_ids"`
	Sessions []string `json:"session_ids"`
	Tokens   []string `json:"recipient_tokens"`
	Orders   []string `json:"order_ids"`
}

// The kinds of identifier, as the statements below name them.
const (
	kindUser    = "u"
	kindVisitor = "v"
	kindSession = "s"
	kindToken   = "t"
	kindOrder   = "o"
)

var kinds = []string{kindUser, kindVisitor, kindSession, kindToken, kindOrder}

func (ids *Identifiers) of(kind string) *[]string {
	switch kind {
	case kindUser:
		return &ids.UserIDs
	case kindVisitor:
		return &ids.Visitors
	case kindSession:
		return &ids.Sessions
	case kindToken:
		return &ids.Tokens
	default:
		return &ids.Orders
	}
}

func (ids *Identifiers) count() int {
	n := 0
	for _, k := range kinds {
		n += len(*ids.of(k))
	}
	return n
}

// maxLinked bounds the identifiers of one person that more than a claim
// led to (proven links, see qLinked). More than that is no person but an
// identifier many share (a shop backend sending one visitor id with every
// order, say): erasing it would erase a crowd. Browsers found only through
// a claim of one of the person's addresses are not counted: anybody can
// make any number of them, and they would block the person's export and
// erasure. Nor are browsers that landed with the person's newsletter
// token (proof 'link') and are linked by nothing else: the token is in
// every forwarded newsletter and shared landing URL, and 20,000 landings
// with it blocked her export and erasure (409).
const maxLinked = 20_000

// ErrTooLinked says a person's identity grew past maxLinked.
var ErrTooLinked = errors.New("too many identifiers are linked to this person: some identifier is shared by many people (a visitor or user id sent with every order?), and erasing it would erase them all")

// keySource says where a statement reads the identifiers known so far:
// from the erasure's or the export's own in-memory table (tableKeys),
// which holds any number (bound as sets into a statement's text, some
// 20,000 passed ClickHouse's max_query_size) and keeps every identifier
// out of the text of their statements (and so out of system.mutations,
// the server's logs and query_log).
type keySource interface {
	// set is the SQL of the set of identifiers of kind, for IN.
	set(kind string) string
	args() chsql.Args
	// found is told the kept messages (events_rejected) found to be the
	// person's, by their coordinates (rejectedKey), for set(kindRejected).
	found(keys []string) error
}

// tableKeys reads the identifiers from the erasure's Memory table; put
// adds to it.
type tableKeys struct {
	table string
	put   func(map[string][]string) error
}

func (t tableKeys) set(kind string) string {
	return "(SELECT key FROM " + t.table + " WHERE kind = '" + kind + "')"
}

func (t tableKeys) args() chsql.Args { return nil }

func (t tableKeys) found(keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	return t.put(map[string][]string{kindRejected: keys})
}

// qLinked finds the identifiers linked to those known: every identifier
// of every event that carries a known one (a visitor id gives its user
// ids, sessions and orders; a user id or an order gives the visitor ids
// that sent it), and of every newsletter recipient with a known address,
// account id or token. Repeated until nothing new comes, it is the
// person's whole identity: a second user id given on one device (an
// identify after a subscribe) leads to that id's other devices and
// server-side orders. Each match skips empty values, so that an empty
// set matches nothing.
//
// What a browser claims (proof 'claim': a user id or an order id sent by
// the snippet or the pixel) is weighed, since anybody can claim anybody's
// address or order id: following every claim would export one person's
// data to another and erase, and bar for good, people who asked for
// nothing (a reviewer's Eve, claiming Vic's address and Wendy's order id,
// had both in her export and both erased with her). So:
//   - a claimed user id or order id is followed only from a browser that
//     is a proven device (one with a proven event: a server-side order
//     with its visitor id, a newsletter link's landing), so that a
//     person's own browser, which said "I am cust-42" before the shop's
//     server sent cust-42's orders, leads to them;
//   - a browser that claimed one of the person's addresses is taken with
//     the person (its events are about whoever claimed to be them) unless
//     it is proven to be someone else's (a proven event with another user
//     id), and what it claimed leads nowhere further unless it is a
//     proven device;
//   - an order id leads only through proven orders;
//   - an order id that proven events give with two or more user ids
//     (sharedOrders: two storefronts both numbering from 1000, say) is
//     nobody's identifier: it links no one and is not erased by itself
//     (each person's rows with it go by their own visitor and user ids).
//
// A visitor id that is one of the person's addresses (a shop whose
// integration sends the address as its visitor id) is theirs, in any
// spelling userIn reads.
//
// The residue: an impostor's own browsing goes with the person they
// claimed to be, to their export and erasure.
//
// Each identifier comes with claimed: 1 when only a claim or a newsletter
// token led to it (a browser found through a claimed address or a landing
// with the token, and its sessions), which the
// bound on a person's identifiers (maxLinked) does not count, so that
// throw-away browsers claiming somebody's address cannot block their
// export and erasure.
var qLinked = chsql.New("profiles.linked", `SELECT kind, key, min(claimed) FROM (
    SELECT p.1 AS kind, p.2 AS key,
        toUInt8((proof = 'claim' OR proof = 'link') AND NOT (visitor_id != '' AND visitor_id IN {{v}} OR session_id != '' AND session_id IN {{s}})) AS claimed
    FROM events
    ARRAY JOIN [('v', visitor_id), ('s', session_id),
                ('u', if(proof != 'claim' OR visitor_id IN (
                    SELECT visitor_id FROM events WHERE site_id = @site AND proof != 'claim' AND visitor_id != '' AND visitor_id IN {{v}}),
                    user_id, '')),
                ('o', if((proof != 'claim' OR visitor_id IN (
                    SELECT visitor_id FROM events WHERE site_id = @site AND proof != 'claim' AND visitor_id != '' AND visitor_id IN {{v}}))
                    AND order_id NOT IN (`+sharedOrders+`),
                    order_id, ''))] AS p
    WHERE site_id = @site AND (visitor_id != '' AND visitor_id IN {{v}} OR session_id != '' AND session_id IN {{s}}
        OR position(visitor_id, '@') > 0 AND `+userIn("visitor_id", "{{u}}")+`
        OR proof != 'claim' AND (user_id != '' AND `+userIn("user_id", "{{u}}")+` OR order_id != '' AND order_id IN {{o}})
        OR proof = 'claim' AND user_id != '' AND `+userIn("user_id", "{{u}}")+` AND visitor_id NOT IN (
            SELECT visitor_id FROM events WHERE site_id = @site AND proof != 'claim' AND user_id != '' AND NOT `+userIn("user_id", "{{u}}")+`))
    UNION ALL
    SELECT p.1 AS kind, p.2 AS key, toUInt8(0) AS claimed FROM recipients
    ARRAY JOIN [('u', email), ('u', external_id), ('t', token)] AS p
    WHERE site_id = @site AND (email != '' AND `+userIn("email", "{{u}}")+` OR external_id != '' AND `+userIn("external_id", "{{u}}")+`
        OR token != '' AND token IN {{t}})
) WHERE key != '' GROUP BY kind, key ORDER BY kind, key`)

// sharedOrders are the order ids of a site that proven events give with
// more than one user id: numbers two people share. Parameter: @site.
const sharedOrders = `SELECT order_id FROM events WHERE site_id = @site AND proof != 'claim' AND order_id != '' AND user_id != ''
    GROUP BY order_id HAVING uniqExact(user_id) > 1`

// userIn is the SQL that says whether col, a column of user ids, holds
// one of set: as stored, or trimmed and lower-cased when it is an e-mail
// address, so that rows an older version stored as typed
// ('Ann.Old@Mail.Example ') match the address however it is asked for.
// The sets hold every spelling of each user id (spellings).
func userIn(col, set string) string {
	return "(" + col + " IN " + set + " OR position(" + col + ", '@') > 0 AND lowerUTF8(replaceRegexpAll(" + col +
		", '^\\\\s+|\\\\s+$', '')) IN " + set + ")"
}

// spellings are the forms of a user id the statements look for (userIn):
// as given, normalised as the processor stores it now
// (event.NormalizeUser), and as SQL lower-cases a trimmed address
// (lowerUTF8: an older row's 'José@Café.Example' is 'josé@café.example',
// whose normalised form has the domain in punycode).
func spellings(u string) []string {
	out := []string{u}
	add := func(v string) {
		if v != "" && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	add(event.NormalizeUser(u))
	if strings.Contains(u, "@") {
		add(strings.ToLower(strings.TrimSpace(u)))
		add(strings.ToLower(strings.TrimSpace(event.NormalizeUser(u))))
	}
	return out
}

// keyValues are the values of ids of kind a statement's set holds: every
// spelling of each user id.
func keyValues(kind string, vals []string) []string {
	if kind != kindUser {
		return vals
	}
	var out []string
	for _, v := range vals {
		out = append(out, spellings(v)...)
	}
	return out
}

// start are the identifiers a Ref gives.
func start(ref Ref) (Identifiers, error) {
	var ids Identifiers
	if u := event.NormalizeUser(ref.UserID); u != "" {
		ids.UserIDs = []string{u}
	}
	if ref.VisitorID != "" {
		ids.Visitors = []string{ref.VisitorID}
	}
	if ids.count() == 0 {
		return ids, fmt.Errorf("a person is named by visitor_id or user_id")
	}
	return ids, nil
}

// link grows ids to the person's whole identity, reading through src;
// added, when set, is told each round's new identifiers before the next
// round reads them. It returns ErrNotFound when nothing is stored about
// the identifiers it started from, in any table (knownElsewhere).
func (s *Store) link(ctx context.Context, site string, ids *Identifiers, src func(*Identifiers) keySource,
	added func(map[string][]string) error) error {
	have := map[string]bool{}
	for _, k := range kinds {
		for _, v := range *ids.of(k) {
			have[k+"\x00"+v] = true
		}
	}
	found := false
	// proven counts the identifiers that name people and that more than
	// a claim led to: the bound is on them.
	proven := 0
	for _, k := range kinds {
		if k != kindSession {
			proven += len(*ids.of(k))
		}
	}
	for round := 0; ; round++ {
		ks := src(ids)
		slots := map[string]string{}
		for _, k := range kinds {
			slots[k] = ks.set(k)
		}
		args := chsql.Args{"site": site}
		for k, v := range ks.args() {
			args[k] = v
		}
		st := qLinked.With(slots)
		fresh := map[string][]string{}
		err := s.each(ctx, st, bindable(st, args), func(r scanner) error {
			var kind, key string
			var claimed uint8
			if err := r.Scan(&kind, &key, &claimed); err != nil {
				return err
			}
			found = true
			if !have[kind+"\x00"+key] && slices.Contains(kinds, kind) {
				have[kind+"\x00"+key] = true
				fresh[kind] = append(fresh[kind], key)
				if claimed == 0 && kind != kindSession {
					proven++
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("find the identifiers of a person: %w", err)
		}
		if !found {
			// Neither events nor newsletter lists name them: kept
			// messages or a manual record may still.
			if found, err = s.knownElsewhere(ctx, site, ids, ks); err != nil {
				return err
			}
			if !found {
				return ErrNotFound
			}
		}
		if len(fresh) == 0 {
			break
		}
		for k, vs := range fresh {
			p := ids.of(k)
			*p = append(*p, vs...)
		}
		if proven > maxLinked {
			return fmt.Errorf("%w: more than %d", ErrTooLinked, maxLinked)
		}
		if added != nil {
			if err := added(fresh); err != nil {
				return err
			}
		}
	}
	for _, k := range kinds {
		sort.Strings(*ids.of(k))
		if *ids.of(k) == nil {
			*ids.of(k) = []string{}
		}
	}
	return nil
}

// A place is a table that holds identifiers of people, and the columns
// that hold them.
type place struct {
	table   string
	columns []string
}

// idColumns are the columns, by name, that hold identifiers of a person
// in any table, and the kinds of identifier each holds. A table added
// later with one of them is erased and exported without a change here.
var idColumns = map[string][]string{
	"visitor_id":  {kindVisitor},
	"session_id":  {kindSession},
	"user_id":     {kindUser},
	"person_key":  {kindUser, kindVisitor}, // an anonymous person's key is their visitor id
	"email":       {kindUser},
	"external_id": {kindUser},
	"token":       {kindToken},
	"order_id":    {kindOrder},
}

// rejectedTable keeps Kafka messages whole (events_rejected): it has no
// column per identifier, so its messages are searched as text.
const rejectedTable = "events_rejected"

// qPlaces lists the tables that hold people's identifiers: every table
// of the database that can be deleted from (the MergeTree family; the
// views write to tables listed here) with a column named in idColumns,
// or the kept messages.
var qPlaces = chsql.New("profiles.places", `SELECT table, arraySort(groupArray(name)) FROM system.columns
WHERE database = currentDatabase() AND type IN ('String', 'LowCardinality(String)', 'Nullable(String)')
  AND name IN ('site_id', 'payload', 'visitor_id', 'session_id', 'user_id', 'person_key', 'email', 'external_id', 'token', 'order_id')
  AND table IN (SELECT name FROM system.tables WHERE database = currentDatabase() AND engine LIKE '%MergeTree')
GROUP BY table ORDER BY table`)

var tableName = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// places lists where people's identifiers are stored. A table with
// identifier columns but no site_id cannot be erased per site: an error,
// so that such a table is never silently left out.
func (s *Store) places(ctx context.Context) ([]place, error) {
	var out []place
	err := s.each(ctx, qPlaces, nil, func(r scanner) error {
		var p place
		var cols []string
		if err := r.Scan(&p.table, &cols); err != nil {
			return err
		}
		// On a cluster the rows of a sharded table are in <table>_local,
		// which statements reach through <table> (Distributed): its
		// ALTER goes to every shard's replicas, its count reads each shard.
		p.table = s.db.Logical(p.table)
		if !tableName.MatchString(p.table) {
			return fmt.Errorf("table %q: not a name the erasure can write into SQL", p.table)
		}
		site := false
		for _, c := range cols {
			switch {
			case c == "site_id":
				site = true
			case idColumns[c] != nil:
				p.columns = append(p.columns, c)
			}
		}
		switch {
		case p.table == rejectedTable:
			out = append(out, place{table: p.table})
		case len(p.columns) == 0:
		case !site:
			return fmt.Errorf("table %s holds %v but no site_id: the erasure cannot tell its sites apart", p.table, p.columns)
		default:
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list the tables that hold people: %w", err)
	}
	return out, nil
}

// where is the condition that picks the person's rows of p, reading the
// identifiers through ks: for events_rejected, the messages that
// rejectedMessages found and told ks.
func (p place) where(ks keySource) string {
	if p.table == rejectedTable {
		return rejectedKey + " IN " + ks.set(kindRejected)
	}
	var or []string
	for _, c := range p.columns {
		for _, k := range idColumns[c] {
			if k == kindUser {
				or = append(or, c+" != '' AND "+userIn(c, ks.set(k)))
				continue
			}
			or = append(or, c+" != '' AND "+c+" IN "+ks.set(k))
		}
	}
	return "site_id = @site AND (" + strings.Join(or, " OR ") + ")"
}

var qPlaceRows = chsql.New("profiles.place_rows", `SELECT count() FROM {{table}} WHERE {{where}}`).
	DependsOnServerState("the erasure counts the stored versions it must delete: an older version of a people row still holds the address until it is deleted, and merges remove versions at their own times")

// rows counts the person's rows in each place, reading the identifiers
// through ks (ids in memory for the kept messages, searched in Go);
// places without any are left out.
func (s *Store) rows(ctx context.Context, site string, places []place, ids *Identifiers, ks keySource) (map[string]uint64, error) {
	out := map[string]uint64{}
	args := chsql.Args{"site": site}
	for k, v := range ks.args() {
		args[k] = v
	}
	for _, p := range places {
		if p.table == rejectedTable {
			keys, n, err := s.rejectedMessages(ctx, ids)
			if err != nil {
				return nil, err
			}
			if err := ks.found(keys); err != nil {
				return nil, err
			}
			if n > 0 {
				out[p.table] = n
			}
			continue
		}
		w := p.where(ks)
		st := qPlaceRows.With(map[string]string{"table": p.table, "where": w})
		var n uint64
		if err := s.db.QueryRow(ctx, st, bindable(st, args)).Scan(&n); err != nil {
			return nil, fmt.Errorf("count the person's rows in %s: %w", p.table, err)
		}
		if n > 0 {
			out[p.table] = n
		}
	}
	return out, nil
}

// bindable keeps the arguments st names: binding one it does not use is
// an error.
func bindable(st *chsql.Query, args chsql.Args) chsql.Args {
	out := chsql.Args{}
	for k, v := range args {
		if strings.Contains(st.SQL(), "@"+k) {
			out[k] = v
		}
	}
	return out
}
