package profiles

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"footfall/internal/chsql"
	"footfall/internal/erasure"
)

var (
	// qInsertsBefore counts the inserts running on the server that began
	// at least @since seconds ago: a processor's batch or a refresh of
	// the people table that read the person's rows before they were
	// deleted, still to land.
	// On a cluster it reads every node's (chsql.Conn.System): a batch
	// inserted through a Distributed table runs on a node of each shard.
	qInsertsBefore = chsql.New("profiles.inserts_before",
		`SELECT count() FROM {{processes}} WHERE match(query, '^\\s*(?i:insert)\\s') AND elapsed >= @since`).
		DependsOnServerState("it counts the inserts running on the whole server at that moment, whatever else uses it")
	// qMutationsDue counts the database's mutations not done, and those
	// that read the table of identifiers @keys, done or not: on a cluster,
	// every replica's (each lists a mutation once it has read it from
	// ZooKeeper, not when the ALTER returns).
	qMutationsDue = chsql.New("profiles.mutations_due",
		`SELECT countIf(is_done = 0), countIf(position(command, @keys) > 0) FROM {{mutations}} WHERE database = {{db}}`)
	// ALTER ... DELETE is how ClickHouse 18.16 and later delete rows. The
	// table comes from places (a checked name), the condition from
	// idColumns; the identifiers are read from the erasure's Memory table,
	// so the mutation's text (system.mutations, mutation_N.txt) names none.
	eraseRows = chsql.New("profiles.erase", `ALTER TABLE {{table}} DELETE WHERE {{where}}`)
	// The erasure's identifiers, in memory only (never written to disk),
	// inserted as data blocks, so that they are in no statement's text.
	// On a cluster every node has a copy (see keyTable).
	createKeys = chsql.New("profiles.erasing_create", `CREATE TABLE {{keys}} (kind String, key String{{node}}) ENGINE = {{engine}}`)
	insertKeys = chsql.New("profiles.erasing_insert", `INSERT INTO {{keys}} (kind, key{{node}})`)
	dropKeys   = chsql.New("profiles.erasing_drop", `DROP TABLE IF EXISTS {{keys}}`)
	// qNodes counts the nodes of a cluster (its <cluster>_each).
	qNodes = chsql.New("profiles.cluster_nodes", `SELECT count() FROM system.clusters WHERE cluster = @cluster`)
	// qNodesUp counts the nodes that answer ({{one}}: system.one of each).
	qNodesUp = chsql.New("profiles.nodes_up", `SELECT count() FROM {{one}}`)
	// The tables of erasures and exports that stopped before the end (a
	// timeout, a restart), once no unfinished mutation reads them and an hour has
	// passed: a younger one may be another program's erasure at work.
	qLeftovers = chsql.New("profiles.erasing_leftovers", `SELECT name FROM system.tables
WHERE database = currentDatabase() AND (startsWith(name, 'erasing_') OR startsWith(name, 'exporting_') OR startsWith(name, 'viewing_'))
  AND metadata_modification_time < now() - 3600
  AND name NOT IN (SELECT extract(command, 'erasing_[0-9a-z_]+') FROM {{mutations}} WHERE database = {{db}} AND is_done = 0)
ORDER BY name`)
)

// Erasure says what Erase removed: every identifier of the person, and
// how many rows each table held of them.
type Erasure struct {
	Identifiers
	Rows   map[string]uint64 `json:"rows"`
	Tables []string          `json:"tables"`
}

// maxRounds bounds how often Erase deletes again the rows of the person
// that arrived while it deleted.
const maxRounds = 3

// Erase deletes every row about one person (GDPR art. 17) in every table
// that holds identifiers (places), and waits until ClickHouse has applied
// the deletions. The person is every identifier linked to ref (link):
// each e-mail address and user id any of their visitor ids ever gave,
// each visitor id that gave one of those, their sessions, orders and
// newsletter recipient tokens. It first writes their tombstones
// (internal/erasure), from which on the processor drops their events;
// once two tombstone syncs have passed it looks again and deletes what
// a batch being written at that moment brought. No identifier is in the
// text of any statement it sends.
func (s *Store) Erase(ctx context.Context, site string, ref Ref) (Erasure, error) {
	ids, err := start(ref)
	if err != nil {
		return Erasure{}, err
	}
	s.erasing.Lock()
	defer s.erasing.Unlock()
	secret, err := erasure.Secret(ctx, s.db, s.erasureSecret)
	if err != nil {
		return Erasure{}, err
	}
	if err := s.dropLeftovers(ctx); err != nil {
		return Erasure{}, err
	}
	slots, err := s.createKeys(ctx, "erasing")
	if err != nil {
		return Erasure{}, fmt.Errorf("prepare the erasure: %w", err)
	}
	// The table goes once no mutation may read it any more (on a
	// cluster, no replica's): dropping it under one would make that
	// mutation fail for ever.
	unread := true
	defer func() {
		if !unread {
			return
		}
		if err := slots.drop(chsql.Detach(ctx)); err != nil {
			slog.Warn("erasure: drop its table of identifiers", "err", err)
		}
	}()
	hasher := erasure.NewHasher(secret)
	put := func(add map[string][]string) error {
		// Kept messages found to be the person's leave tombstones of
		// their Kafka coordinates before they are deleted: a replay of
		// the topic does not keep them again.
		if msgs := add[kindRejected]; len(msgs) > 0 {
			if err := erasure.Write(ctx, s.db, hasher, "", map[erasure.Kind][]string{erasure.Message: msgs}); err != nil {
				return err
			}
		}
		return slots.put(ctx, add)
	}
	first := map[string][]string{}
	for _, k := range kinds {
		first[k] = *ids.of(k)
	}
	if err := put(first); err != nil {
		return Erasure{}, err
	}
	ks := tableKeys{table: slots.from(), put: put}
	if err := s.link(ctx, site, &ids, func(*Identifiers) keySource { return ks }, put); err != nil {
		return Erasure{}, err
	}
	out := Erasure{Identifiers: ids, Rows: map[string]uint64{}, Tables: []string{}}
	// Tombstones first: from now on the processor drops what comes of them.
	err = erasure.Write(ctx, s.db, hasher, site, map[erasure.Kind][]string{
		erasure.Visitor: ids.Visitors, erasure.User: keyValues(kindUser, ids.UserIDs), erasure.Token: ids.Tokens,
		erasure.Session: ids.Sessions, erasure.Order: ids.Orders})
	if err != nil {
		return out, err
	}
	written := time.Now()
	places, err := s.places(ctx)
	if err != nil {
		return out, err
	}
	pending, err := s.rows(ctx, site, places, &ids, ks)
	if err != nil {
		return out, err
	}
	issued := 0
	for round := 1; len(pending) > 0; round++ {
		if round > maxRounds {
			return out, fmt.Errorf("rows of the person keep arriving (%v): stop their traffic and erase again", pending)
		}
		for _, p := range places {
			if pending[p.table] == 0 {
				continue
			}
			out.Rows[p.table] += pending[p.table]
			st := eraseRows.With(map[string]string{"table": p.table, "where": p.where(ks)})
			unread = false
			if err := s.db.Exec(ctx, st, bindable(st, chsql.Args{"site": site})); err != nil {
				return out, fmt.Errorf("erase from %s: %w", p.table, err)
			}
			issued++
		}
		if err := s.waitMutations(ctx, slots, issued); err != nil {
			return out, err
		}
		// A node restarted meanwhile read its copy empty: its
		// mutations, done, deleted nothing there.
		if err := slots.intact(ctx); err != nil {
			return out, fmt.Errorf("the erasure's deletions may have missed rows: %w: erase again", err)
		}
		mutated := time.Now()
		unread = true
		// A batch that the processor was writing as the tombstones were
		// written, or a refresh of the people table, may have brought
		// rows the deletions did not see: look again once the
		// processors have surely read the tombstones.
		if wait := time.Until(written.Add(2 * erasure.SyncEvery)); wait > 0 {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return out, ctx.Err()
			}
		}
		// And once every insert begun before the deletions ended has
		// ended: a batch that was on its way to the server (its
		// processor checked the tombstones before they were written; an
		// attempt lasts up to the processor's -insert-timeout) or a
		// refresh of the people table that read the rows before they
		// were deleted.
		if err := s.waitInserts(ctx, mutated); err != nil {
			return out, err
		}
		if pending, err = s.rows(ctx, site, places, &ids, ks); err != nil {
			return out, err
		}
	}
	for t := range out.Rows {
		out.Tables = append(out.Tables, t)
	}
	sort.Strings(out.Tables)
	return out, nil
}

// keyTable is a table of identifiers of an erasure, an export or a
// profile view: a Memory table named prefix_<time>_<random> (erasing,
// exporting, viewing).
//
// On one server it is the server's. On a cluster every node holds a copy
// (created ON CLUSTER), since every statement that reads it may run on any
// node: a mutation runs on each replica of the local tables and reads
// that node's copy; a SELECT over a Distributed table sends its IN
// (SELECT ... FROM keys) to a node of each shard, which reads its own
// copy; and the connection pool's next statement may go to another node.
// The identifiers reach every copy through <name>_all, a Distributed
// table over the cluster in which each node is a shard (<cluster>_each),
// sharded by a column node: each identifier is inserted once per node,
// node i to node i, synchronously (insert_distributed_sync), so that they
// stay in memory only and are all there when put returns.
type keyTable struct {
	db    *chsql.Conn
	name  string
	nodes int // on a cluster, how many nodes hold a copy; 0 on one server
	rows  *uint64
}

// createKeys creates a new table of identifiers.
func (s *Store) createKeys(ctx context.Context, prefix string) (keyTable, error) {
	var rnd [4]byte
	rand.Read(rnd[:])
	k := keyTable{db: s.db, name: fmt.Sprintf("%s_%d_%x", prefix, time.Now().Unix(), rnd), rows: new(uint64)}
	if s.db.Cluster() == "" {
		return k, s.db.Exec(ctx, createKeys.With(map[string]string{"keys": k.name, "node": "", "engine": "Memory"}), nil)
	}
	var err error
	if k.nodes, err = clusterNodes(ctx, s.db, s.db.EachCluster()); err != nil {
		return k, err
	}
	if err := nodesAnswer(ctx, s.db, k.nodes); err != nil {
		return k, err
	}
	mem := map[string]string{"keys": k.qualified("") + k.onCluster(), "node": ", node UInt8", "engine": "Memory"}
	all := map[string]string{"keys": k.qualified("_all") + k.onCluster(), "node": ", node UInt8",
		"engine": fmt.Sprintf("Distributed(%s, %s, %s, node)", s.db.EachCluster(), s.db.Database(), k.name)}
	for _, slots := range []map[string]string{mem, all} {
		if err := s.db.Exec(ctx, createKeys.With(slots), nil); err != nil {
			// What was made goes (IF EXISTS), and its leftovers with a
			// later erasure's (dropLeftovers).
			if err := k.drop(chsql.Detach(ctx)); err != nil {
				slog.Warn("drop a table of identifiers", "err", err)
			}
			return k, err
		}
	}
	return k, nil
}

// nodesAnswer says whether all of the database's nodes (want of them)
// answer, at once: the person's identifiers go to every node, and ON
// CLUSTER DDL waits for a node that is down until its timeout (minutes);
// so an export, profile view or erasure while one is down fails in a
// second, naming the cause, rather than after the DDL's timeout.
func nodesAnswer(ctx context.Context, db *chsql.Conn, want int) error {
	var n uint64
	err := db.QueryRow(ctx, qNodesUp.With(map[string]string{"one": db.System("one")}), nil).Scan(&n)
	if err == nil && n != uint64(want) {
		err = fmt.Errorf("%d of %d answered", n, want)
	}
	if err != nil {
		return fmt.Errorf("%w: the person's identifiers go to every ClickHouse node, and not every node answers (start it again, then retry): %v", ErrNodeDown, err)
	}
	return nil
}

// ErrNodeDown is an export's, a profile view's or an erasure's answer on
// a cluster while one of its nodes does not answer.
var ErrNodeDown = errors.New("a ClickHouse node is down")

// clusterNodes counts the nodes of cluster (shards of one replica each,
// as <cluster>_each is) that the server knows: an error for none, so
// that a table of identifiers is never filled on no node.
func clusterNodes(ctx context.Context, db *chsql.Conn, cluster string) (int, error) {
	var n uint64
	if err := db.QueryRow(ctx, qNodes, chsql.Args{"cluster": cluster}).Scan(&n); err != nil {
		return 0, fmt.Errorf("count the nodes of cluster %s: %w", cluster, err)
	}
	if n == 0 || n > 255 {
		return 0, fmt.Errorf("cluster %s: %d nodes known to the server (want 1 to 255; see deploy/cluster/clickhouse.xml)", cluster, n)
	}
	return int(n), nil
}

// qualified is the table's name (and suffix) with its database.
func (k keyTable) qualified(suffix string) string { return k.db.Database() + "." + k.name + suffix }

func (k keyTable) onCluster() string { return " ON CLUSTER " + k.db.Cluster() }

// from is the table as a statement names it: on a cluster with its
// database, since a query over a Distributed table runs on other nodes,
// where an unqualified name is one of their default database.
func (k keyTable) from() string {
	if k.nodes == 0 {
		return k.name
	}
	return k.qualified("")
}

// intact checks, on a cluster, that every node's copy still holds every
// identifier put: a node restarted since lost its copy's rows (Memory),
// and a statement that ran there read none.
func (k keyTable) intact(ctx context.Context) error {
	if k.nodes == 0 {
		return nil
	}
	// Every node's copy counted, each on its node, through <cluster>_each.
	st := qPlaceRows.With(map[string]string{"table": fmt.Sprintf("cluster('%s', %s, %s)", k.db.EachCluster(), k.db.Database(), k.name), "where": "1"})
	var n uint64
	if err := k.db.QueryRow(ctx, st, nil).Scan(&n); err != nil {
		return fmt.Errorf("count the copies of the identifiers: %w", err)
	}
	if want := *k.rows * uint64(k.nodes); n != want {
		return fmt.Errorf("the %d nodes hold %d copies of the %d identifiers, want %d (a node restarted?)", k.nodes, n, *k.rows, want)
	}
	return nil
}

// drop drops the table (every copy, and <name>_all).
func (k keyTable) drop(ctx context.Context) error {
	if k.nodes == 0 {
		return k.db.Exec(ctx, dropKeys.With(map[string]string{"keys": k.name}), nil)
	}
	if err := k.db.Exec(ctx, dropKeys.With(map[string]string{"keys": k.qualified("_all") + k.onCluster()}), nil); err != nil {
		return err
	}
	return k.db.Exec(ctx, dropKeys.With(map[string]string{"keys": k.qualified("") + k.onCluster()}), nil)
}

// put adds identifiers by kind to the table, as a data block: they are
// in no statement's text.
func (k keyTable) put(ctx context.Context, add map[string][]string) error {
	slots := map[string]string{"keys": k.name, "node": ""}
	copies := 1
	if k.nodes > 0 {
		slots = map[string]string{"keys": k.name + "_all", "node": ", node"}
		copies = k.nodes
		// Sent to each node as the insert runs, never queued on disk.
		ctx = clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"insert_distributed_sync": 1}))
	}
	b, err := k.db.PrepareBatch(ctx, insertKeys.With(slots))
	if err != nil {
		return fmt.Errorf("prepare the person's identifiers: %w", err)
	}
	defer b.Abort()
	n := 0
	for kind, vs := range add {
		for _, v := range keyValues(kind, vs) {
			for node := 0; node < copies; node++ {
				var err error
				if k.nodes > 0 {
					err = b.Append(kind, v, uint8(node))
				} else {
					err = b.Append(kind, v)
				}
				if err != nil {
					return fmt.Errorf("append identifier: %w", err)
				}
			}
			n++
		}
	}
	if n == 0 {
		return nil
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("write the person's identifiers: %w", err)
	}
	*k.rows += uint64(n)
	return nil
}

// dropLeftovers drops the tables of identifiers of erasures that stopped
// before the end.
func (s *Store) dropLeftovers(ctx context.Context) error {
	var names []string
	st := qLeftovers.With(map[string]string{"mutations": s.db.System("mutations"), "db": s.db.DatabaseSQL()})
	err := s.each(ctx, st, nil, func(r scanner) error {
		var n string
		err := r.Scan(&n)
		names = append(names, n)
		return err
	})
	if err != nil {
		return fmt.Errorf("list unfinished erasures: %w", err)
	}
	for _, n := range names {
		if !tableName.MatchString(n) {
			continue
		}
		keys := n
		if s.db.Cluster() != "" {
			// Each copy, and the Distributed table <name>_all, by its name.
			keys = s.db.Database() + "." + n + " ON CLUSTER " + s.db.Cluster()
		}
		if err := s.db.Exec(ctx, dropKeys.With(map[string]string{"keys": keys}), nil); err != nil {
			return fmt.Errorf("drop the table of an unfinished erasure: %w", err)
		}
	}
	return nil
}

// waitInserts returns when no insert that began before t runs on the
// server.
func (s *Store) waitInserts(ctx context.Context, t time.Time) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		var n uint64
		st := qInsertsBefore.With(map[string]string{"processes": s.db.System("processes")})
		if err := s.db.QueryRow(ctx, st, chsql.Args{"since": time.Since(t).Seconds()}).Scan(&n); err != nil {
			return fmt.Errorf("wait for inserts under way: %w", err)
		}
		if n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for inserts under way (%d): %w", n, ctx.Err())
		case <-tick.C:
		}
	}
}

// waitMutations returns when ClickHouse has applied every pending
// mutation. On a cluster, on every node, once each has listed the issued
// mutations that read keys (one per replica of each: a replica that has
// not yet read one from ZooKeeper lists nothing to wait for).
func (s *Store) waitMutations(ctx context.Context, keys keyTable, issued int) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	st := qMutationsDue.With(map[string]string{"mutations": s.db.System("mutations"), "db": s.db.DatabaseSQL()})
	for {
		var n, ours uint64
		if err := s.db.QueryRow(ctx, st, chsql.Args{"keys": keys.name}).Scan(&n, &ours); err != nil {
			return fmt.Errorf("wait for deletions: %w", err)
		}
		if n == 0 && ours >= uint64(issued*keys.nodes) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for deletions (%d pending): %w", n, ctx.Err())
		case <-tick.C:
		}
	}
}

// Export is everything stored about one person (GDPR art. 15): the same
// identifiers and the same rows an erasure would remove.
type Export struct {
	Profile     Person      `json:"profile"`
	Identifiers Identifiers `json:"identifiers"`
	Visitors    []string    `json:"visitor_ids"`
	Override    Override    `json:"manual"`
	Consents    []Consent   `json:"consents"`
	Ledger      []Consent   `json:"consent_ledger"`
	Interests   []Interest  `json:"interests"`
	Events      []Event     `json:"events"`
	// Recipients are the person's places on newsletter campaigns' lists.
	Recipients []Recipient `json:"newsletter_recipients"`
	// Rows is how many rows each table holds of the person: every
	// table an erasure deletes from.
	Rows map[string]uint64 `json:"rows"`
}

// Recipient is one place of a person on a campaign's list.
type Recipient struct {
	Campaign   string    `json:"campaign"`
	Email      string    `json:"email"`
	ExternalID string    `json:"external_id,omitempty"`
	Token      string    `json:"token"`
	AddedAt    time.Time `json:"added_at"`
}

var (
	qLedger = chsql.New("profiles.consent_ledger", `SELECT purpose, granted, time, source, wording, proof FROM consents
WHERE site_id = @site AND visitor_id IN {{visitors}} ORDER BY time, toString(event_id), purpose`)
	qRecipientsOf = chsql.New("profiles.recipients_of", `SELECT campaign_id, email, any(external_id), any(token), min(added_at)
FROM recipients
WHERE site_id = @site AND (`+userIn("email", "{{u}}")+` OR external_id != '' AND `+userIn("external_id", "{{u}}")+` OR token IN {{t}})
GROUP BY campaign_id, email ORDER BY campaign_id, email`)
)

// Export gathers all data about one person: every identifier linked to
// ref, as Erase finds them. Like the erasure, it keeps the identifiers in
// a Memory table of its own (exporting_...), which every statement reads,
// so that a person of any number of visitor ids (25,000 browsers that
// claimed their address, say) is exported: bound into the statements'
// text, some 20,000 ids passed ClickHouse's max_query_size. It runs on a
// connection that may create and drop that table.
func (s *Store) Export(ctx context.Context, site string, ref Ref) (Export, error) {
	var x Export
	err := s.withKeys(ctx, "exporting", func(ks tableKeys) error {
		var err error
		x, err = s.export(ctx, site, ref, ks)
		return err
	})
	return x, err
}

// withKeys runs f with a new Memory table of identifiers of its own
// (prefix_...: exporting, viewing), dropped once f returns; one that an
// interrupted run left is dropped by a later erasure (dropLeftovers).
// Statements read the identifiers from it (tableKeys.set), so that they
// take any number of them and name none in their text.
func (s *Store) withKeys(ctx context.Context, prefix string, f func(ks tableKeys) error) error {
	keys, err := s.createKeys(ctx, prefix)
	if err != nil {
		return fmt.Errorf("prepare a table of identifiers: %w", err)
	}
	defer func() {
		if err := keys.drop(chsql.Detach(ctx)); err != nil {
			slog.Warn("drop a table of identifiers", "prefix", prefix, "err", err)
		}
	}()
	if err := f(tableKeys{table: keys.from(), put: func(add map[string][]string) error { return keys.put(ctx, add) }}); err != nil {
		return err
	}
	// What f read is whole only if no node lost its copy meanwhile.
	return keys.intact(ctx)
}

// export is Export with its table of identifiers, ks.
func (s *Store) export(ctx context.Context, site string, ref Ref, ks tableKeys) (Export, error) {
	ids, err := start(ref)
	if err != nil {
		return Export{}, err
	}
	put := ks.put
	first := map[string][]string{}
	for _, k := range kinds {
		first[k] = *ids.of(k)
	}
	if err := put(first); err != nil {
		return Export{}, err
	}
	if err := s.link(ctx, site, &ids, func(*Identifiers) keySource { return ks }, put); err != nil {
		return Export{}, err
	}
	x := Export{Identifiers: ids, Visitors: ids.Visitors}
	p, _, err := s.personIn(ctx, site, ref, ks)
	switch {
	case errors.Is(err, ErrNotFound): // known only from a list, say
	case err != nil:
		return x, err
	default:
		x.Profile = p
		if x.Override, err = s.Manual(ctx, site, p.Key); err != nil {
			return x, err
		}
	}
	visitors := ks.set(kindVisitor)
	onSite := func() chsql.Args { return chsql.Args{"site": site} }
	if x.Consents, err = s.consents(ctx, visitors, onSite()); err != nil {
		return x, err
	}
	x.Ledger = []Consent{}
	err = s.each(ctx, visitorsIn(qLedger, visitors), onSite(), func(r scanner) error {
		var c Consent
		var g uint8
		err := r.Scan(&c.Purpose, &g, &c.Time, &c.Source, &c.Wording, &c.Proof)
		c.Granted = g == 1
		x.Ledger = append(x.Ledger, c)
		return err
	})
	if err != nil {
		return x, fmt.Errorf("read consent ledger: %w", err)
	}
	if x.Interests, err = s.interests(ctx, visitors, onSite(), 1000); err != nil {
		return x, err
	}
	// All events: an export is rare and must be complete.
	if x.Events, err = s.events(ctx, visitors, onSite(), 1<<40); err != nil {
		return x, err
	}
	x.Recipients = []Recipient{}
	st := qRecipientsOf.With(map[string]string{"u": ks.set(kindUser), "t": ks.set(kindToken)})
	err = s.each(ctx, st, onSite(), func(r scanner) error {
		var rc Recipient
		err := r.Scan(&rc.Campaign, &rc.Email, &rc.ExternalID, &rc.Token, &rc.AddedAt)
		x.Recipients = append(x.Recipients, rc)
		return err
	})
	if err != nil {
		return x, fmt.Errorf("read newsletter recipients: %w", err)
	}
	places, err := s.places(ctx)
	if err != nil {
		return x, err
	}
	if x.Rows, err = s.rows(ctx, site, places, &ids, ks); err != nil {
		return x, err
	}
	return x, nil
}

// kindProfile are, in an export's table of identifiers, the visitor ids
// of the person's profile (Resolve's), which may differ from the
// identity's.
const kindProfile = "p"

// personIn is Get with ks, a table of identifiers: the person's profile
// computed from the visitor ids Resolve finds, which it puts in ks
// (kindProfile: they may differ from the identity's) and the statement
// reads from there rather than from its text.
func (s *Store) personIn(ctx context.Context, site string, ref Ref, ks tableKeys) (Person, []string, error) {
	key, visitors, err := s.Resolve(ctx, site, ref)
	if err != nil {
		return Person{}, nil, err
	}
	if err := ks.put(map[string][]string{kindProfile: visitors}); err != nil {
		return Person{}, nil, err
	}
	q := s.Query(site)
	q.visitorSet = ks.set(kindProfile)
	st, args, err := q.Statement()
	if err != nil {
		return Person{}, nil, fmt.Errorf("read profile: %w", err)
	}
	rows, err := s.db.Query(ctx, st, args)
	if err != nil {
		return Person{}, nil, fmt.Errorf("read profile: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		p, err := Scan(rows)
		if err != nil {
			return Person{}, nil, fmt.Errorf("read profile: %w", err)
		}
		if p.Key == key {
			return p, visitors, rows.Err()
		}
	}
	if err := rows.Err(); err != nil {
		return Person{}, nil, fmt.Errorf("read profile: %w", err)
	}
	return Person{}, nil, ErrNotFound
}
