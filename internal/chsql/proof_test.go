package chsql_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"footfall/internal/chsql"
	"footfall/tests/stacktest"
)

// TestProofOfStoredEvents: events stored before the migration that adds
// events.proof read their proof from the door they came in by, and the
// consent ledger, the identity map and the people table are rebuilt on
// it. What browsers said (the forged consent with a chosen
// wording, a pixel's unsubscribe of someone else) becomes a claim that
// joins no one; the server API, an import and a newsletter link stay
// proven.
func TestProofOfStoredEvents(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	ctx := context.Background()
	conn := store.DB().Driver()
	ms, err := chsql.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	version := 0
	for _, m := range ms {
		if strings.HasSuffix(m.Name, "_proof.sql") {
			version = m.Version
		}
	}
	if version == 0 {
		t.Fatal("no _proof migration")
	}
	// Take the database back to where it stood before that migration.
	for _, stmt := range []string{
		"DROP TABLE consents_mv", "DROP TABLE identities_mv", "DROP TABLE identity_claims_mv", "DROP TABLE identity_claims",
		"ALTER TABLE events DROP COLUMN proof", "ALTER TABLE consents DROP COLUMN proof", "ALTER TABLE identities DROP COLUMN proven_by",
		"DROP TABLE schema_migrations",
		"CREATE TABLE schema_migrations (version UInt32, name String, applied_at DateTime) ENGINE = ReplacingMergeTree ORDER BY version",
	} {
		if err := conn.Exec(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	b, err := conn.PrepareBatch(ctx, "INSERT INTO schema_migrations (version, name, applied_at)")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.Version < version {
			if err := b.Append(uint32(m.Version), m.Name, time.Now()); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	n := 0
	old := func(ingest, typ, visitor, user string, props ...string) {
		t.Helper()
		n++
		var keys, values []string
		for i := 0; i+1 < len(props); i += 2 {
			keys, values = append(keys, "'"+props[i]+"'"), append(values, "'"+props[i+1]+"'")
		}
		stmt := fmt.Sprintf(`INSERT INTO events (event_id, time, site_id, type, visitor_id, user_id, ingest, prop_keys, prop_values)
SELECT toUUID('0190aaaa-0000-7000-8000-%012d'), toDateTime('2024-05-0%d 10:00:00'), 's', '%s', '%s', '%s', '%s', [%s], [%s]`,
			n, n, typ, visitor, user, ingest, strings.Join(keys, ","), strings.Join(values, ","))
		if err := conn.Exec(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	// The forged consent, and a pixel's unsubscribe of bob.
	old("beacon", "subscribe", "v-claim", "carol@x.example", "source", "import", "wording", "I agree")
	old("pixel", "unsubscribe", "ck1", "bob@x.example")
	// The shop's backend, then dan's unsubscribe link; an import of erin.
	old("api", "subscribe", "u:dan@x.example", "dan@x.example", "lists", "newsletter")
	old("email", "unsubscribe", "u:dan@x.example", "dan@x.example", "lists", "newsletter", "source", "email-link")
	old("email", "subscribe", "u:erin@x.example", "erin@x.example", "lists", "newsletter", "source", "import", "wording", "w1")
	// The people the old map made: carol out of a claim alone, dan, and
	// the claiming visitor's row written as joined.
	for _, stmt := range []string{
		"INSERT INTO visitor_profiles (site_id, visitor_id) SELECT 's', arrayJoin(['v-claim', 'ck1', 'u:dan@x.example', 'u:erin@x.example'])",
		"INSERT INTO people (site_id, person_key, user_id, deleted, version) SELECT 's', 'carol@x.example', 'carol@x.example', 0, 100",
		"INSERT INTO people (site_id, person_key, user_id, deleted, version) SELECT 's', 'dan@x.example', 'dan@x.example', 0, 101",
		"INSERT INTO people (site_id, person_key, deleted, version) SELECT 's', 'v-claim', 1, 102",
	} {
		if err := conn.Exec(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	if err := chsql.Migrate(ctx, store.DB()); err != nil {
		t.Fatal(err)
	}
	checks := map[string]uint64{
		// events read their proof from their ingest
		"SELECT count() FROM events WHERE proof = 'claim'":                                 2,
		"SELECT count() FROM events WHERE proof = 'server'":                                2,
		"SELECT count() FROM events WHERE proof = 'link'":                                  1,
		"SELECT count() FROM events WHERE proof = 'server' AND user_id = 'erin@x.example'": 1,
		// the ledger, each entry with its proof
		"SELECT count() FROM consents": 5,
		"SELECT count() FROM consents WHERE user_id = 'carol@x.example' AND granted = 1 AND proof = 'claim' AND wording = 'I agree'": 1,
		"SELECT count() FROM consents WHERE user_id = 'bob@x.example' AND granted = 0 AND proof = 'claim'":                           1,
		"SELECT count() FROM consents WHERE user_id = 'dan@x.example' AND granted = 1 AND proof = 'server'":                          1,
		"SELECT count() FROM consents WHERE user_id = 'dan@x.example' AND granted = 0 AND proof = 'link'":                            1,
		"SELECT count() FROM consents WHERE user_id = 'erin@x.example' AND granted = 1 AND proof = 'server'":                         1,
		// only proven user ids join; claims stay on their visitor id
		"SELECT count() FROM (SELECT visitor_id FROM identities GROUP BY visitor_id)": 2,
		"SELECT count() FROM (SELECT visitor_id, argMinMerge(first_user_id) AS u, argMinMerge(proven_by) AS p FROM identities GROUP BY visitor_id) WHERE visitor_id = 'u:dan@x.example' AND u = 'dan@x.example' AND p = 'server'": 1,
		"SELECT count() FROM identities WHERE visitor_id IN ('v-claim', 'ck1')":                                                         0,
		"SELECT count() FROM identity_claims WHERE (visitor_id, user_id) IN (('v-claim', 'carol@x.example'), ('ck1', 'bob@x.example'))": 2,
		// carol, a person of claims alone, is gone; dan stays; every
		// visitor id is recomputed at the next refresh
		"SELECT count() FROM (SELECT person_key, argMax(deleted, version) AS d FROM people GROUP BY person_key) WHERE person_key = 'carol@x.example' AND d = 1": 1,
		"SELECT count() FROM (SELECT person_key, argMax(deleted, version) AS d FROM people GROUP BY person_key) WHERE person_key = 'dan@x.example' AND d = 0":   1,
		"SELECT uniqExact(visitor_id) FROM people_touched WHERE visitor_id IN ('v-claim', 'ck1', 'u:dan@x.example', 'u:erin@x.example')":                        4,
	}
	for q, want := range checks {
		if got := stacktest.Count(t, store, q); got != want {
			t.Errorf("%s = %d, want %d", q, got, want)
		}
	}
	// Run again, as a migration cut short is: the same ledger, no twice.
	for _, m := range ms {
		if m.Version != version {
			continue
		}
		for _, s := range m.Statements {
			if err := store.DB().Exec(ctx, s, nil); err != nil && !chsql.ColumnDone(s.SQL(), err) {
				t.Fatalf("again: %s: %v", s.SQL(), err)
			}
		}
	}
	if got := stacktest.Count(t, store, "SELECT count() FROM consents"); got != 5 {
		t.Errorf("after running the migration again, %d ledger entries, want 5", got)
	}
	if got := stacktest.Count(t, store, "SELECT count() FROM identity_claims"); got != 2 {
		t.Errorf("after running the migration again, %d claims, want 2", got)
	}
}
