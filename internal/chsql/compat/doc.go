// Package compat is the current-ClickHouse check: proof that every
// statement Footfall sends (migrations, the processor's, the dashboards
// API's, the Grafana dashboard's) runs on Debian's ClickHouse 18.16 and on
// current ClickHouse with the same answers.
//
// make test runs every test with chsql recording what each connection
// sends, per database (chsql.RecordEnv). TestCurrentClickHouse (build tag
// compat, run by make test after the other tests) then:
//   - fails if a registered statement never ran in any test (so a statement
//     added later cannot escape the check);
//   - fails if a recorded statement is not registered, or its text is not
//     the registered SQL with its slots filled;
//   - replays every recorded database whole, from its first statement, in
//     its own database, on ClickHouse 18.16 (over HTTP) and on current
//     ClickHouse's engine (chDB, ClickHouse 26.9, installed by
//     deploy/local/stack.sh chdb): a statement is checked on the data of
//     every test that ran it, since some faults (ANY INNER JOIN) show only
//     on some data;
//   - compares every answer: both succeed, or both fail with the same code
//     (ADD COLUMN finding its column: 44 on 18.16, 15 now, taken as one),
//     and a SELECT's rows are the same multiset (a field that is a number
//     with a fraction compared to 12 significant digits, since 18.16
//     prints Decimal(…, 6) with trailing zeros and 26 without).
//
// TestStatementsRegistered (no tag) reads the source: chsql.New takes a
// literal name, and no program reaches the driver around the registry.
package compat
