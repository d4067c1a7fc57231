// Package chsql is the one way Footfall talks to ClickHouse: a registry
// of named statements, client-side binding of named parameters (@name), and
// connections that only take registered statements. Because every
// statement the programs send is registered, the current-ClickHouse check
// (internal/chsql/compat) can prove each one runs with the same answer on
// ClickHouse 18.16 and on current ClickHouse, and fail for one it never
// saw run.
package chsql

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
)

// Query is one registered statement: a name unique in the program and its
// SQL, with @name parameters and, for statements composed at run time,
// {{part}} slots that With fills. Only New makes one, so a connection can
// never be handed SQL that escaped the registry.
type Query struct {
	name   string
	sql    string
	stored string // why the answer depends on the server's state; see DependsOnServerState
}

// Name is the registered name, e.g. "reports.breakdown".
func (q *Query) Name() string { return q.name }

// SQL is the statement's text, slots filled if made by With.
func (q *Query) SQL() string { return q.sql }

var (
	regMu    sync.Mutex
	registry = map[string]*Query{}
	nameRe   = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$`)
	slotRe   = regexp.MustCompile(`\{\{([a-z_]+)\}\}`)
)

// New registers a statement under name (package.what, lower case and
// dots) and returns it. It panics on a malformed or duplicate name: both
// are programming errors found at start.
func New(name, sql string) *Query {
	if !nameRe.MatchString(name) {
		panic(fmt.Sprintf("chsql: query name %q: want package.what in lower case", name))
	}
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := registry[name]; dup {
		panic(fmt.Sprintf("chsql: query %q registered twice", name))
	}
	q := &Query{name: name, sql: strings.TrimSpace(sql)}
	registry[name] = q
	return q
}

// Registered lists every registered statement, by name.
func Registered() []*Query {
	regMu.Lock()
	defer regMu.Unlock()
	out := make([]*Query, 0, len(registry))
	for _, q := range registry {
		out = append(out, q)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// With fills the statement's {{part}} slots with SQL fragments composed by
// the caller (a report's dimension, its filters, a table name from a
// whitelist). Fragments are code, never input: values go in parameters.
// The result keeps the name, so it counts as the registered statement. A
// slot left unfilled, or a part with no slot, panics.
func (q *Query) With(parts map[string]string) *Query {
	used := map[string]bool{}
	var missing []string
	out := slotRe.ReplaceAllStringFunc(q.sql, func(m string) string {
		k := m[2 : len(m)-2]
		v, ok := parts[k]
		if !ok {
			missing = append(missing, k)
			return m
		}
		used[k] = true
		return v
	})
	if len(missing) > 0 {
		panic(fmt.Sprintf("chsql: query %s: no part for slot %v", q.name, missing))
	}
	for k := range parts {
		if !used[k] {
			panic(fmt.Sprintf("chsql: query %s has no slot {{%s}}", q.name, k))
		}
	}
	return &Query{name: q.name, sql: out, stored: q.stored}
}

// DependsOnServerState marks a statement whose answer reads the server's
// own state, not only the data: the rows stored on disk (a
// ReplacingMergeTree keeps every version until ClickHouse merges parts, in
// the background, at times no two servers share; the erasure must count
// them, since an old version still holds the address until deleted), or
// the statements running at that moment (system.processes). The
// current-ClickHouse check then compares only that both engines run it
// and the answer's shape (lines and fields); every other statement must
// answer the same. why is kept for that check's report; it panics if
// empty, so that no statement is marked without a reason.
func (q *Query) DependsOnServerState(why string) *Query {
	if strings.TrimSpace(why) == "" {
		panic(fmt.Sprintf("chsql: query %s: DependsOnServerState needs a reason", q.name))
	}
	q.stored = why
	return q
}

// ServerState is the reason given to DependsOnServerState, "" for a
// statement whose answer must be the same on every engine.
func (q *Query) ServerState() string { return q.stored }
