//go:build compat

package compat

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	_ "footfall/dashboards/api" // registers the API's statements
	_ "footfall/dashboards/grafana"
	_ "footfall/internal/campaigns"
	"footfall/internal/chsql"
	_ "footfall/internal/profiles"
	_ "footfall/internal/refresh"
	_ "footfall/internal/reports"
	_ "footfall/internal/segments"
	_ "footfall/internal/sessionstats"
	_ "footfall/processor/chstore"
	_ "footfall/processor/derive"
	_ "footfall/processor/imports"
	_ "footfall/processor/recipients"
	_ "footfall/processor/retention"
	_ "footfall/processor/triggers"
)

// log is one recorded database: what the tests sent to it, in order.
type log struct {
	db    string
	stmts []chsql.Statement
}

func readLogs(t *testing.T, dir string) []log {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var out []log
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		l := log{db: strings.TrimSuffix(filepath.Base(f), ".jsonl")}
		sc := bufio.NewScanner(fh)
		sc.Buffer(make([]byte, 1<<20), 256<<20)
		for sc.Scan() {
			var st chsql.Statement
			if err := json.Unmarshal(sc.Bytes(), &st); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			l.stmts = append(l.stmts, st)
		}
		fh.Close()
		if err := sc.Err(); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out = append(out, l)
	}
	return out
}

// replayable is the part of a log the check can replay: up to its first
// gap (a test's write that could not be recorded), without the tests' own
// DROP DATABASE.
func replayable(l log) []chsql.Statement {
	var out []chsql.Statement
	for _, st := range l.stmts {
		if st.Kind == "gap" {
			break
		}
		if st.Name == "test.raw" && strings.HasPrefix(strings.ToUpper(strings.TrimSpace(st.SQL)), "DROP DATABASE") {
			continue
		}
		out = append(out, st)
	}
	return out
}

// shapes are the statement shapes (registered name and template, each
// composed variant its own) in a log, without the tests' own writes and
// the database each log creates under a name of its own.
func shapes(stmts []chsql.Statement) map[string]bool {
	out := map[string]bool{}
	for _, st := range stmts {
		if st.Name != "test.raw" && st.Name != "chsql.create_database" {
			out[st.Name+"\x00"+st.Template] = true
		}
	}
	return out
}

// templateOf matches the statements a registered query can send: its SQL
// with each {{slot}} standing for any fragment.
func templateOf(q *chsql.Query) *regexp.Regexp {
	parts := slot.Split(q.SQL(), -1)
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	return regexp.MustCompile(`(?s)^` + strings.Join(parts, `.*`) + `$`)
}

var slot = regexp.MustCompile(`\{\{[a-z_]+\}\}`)

// answer is what one engine said to one statement.
type answer struct {
	Code  int    `json:"code"`
	Error string `json:"error"`
	TSV   string `json:"tsv"`
}

func replayDB(orig string) string {
	h := sha1.Sum([]byte(orig))
	return "compat_" + hex.EncodeToString(h[:6])
}

var createDatabase = regexp.MustCompile(`(?i)^CREATE DATABASE IF NOT EXISTS \S+$`)

var ddl = regexp.MustCompile(`(?i)^\s*CREATE\b`)

// statementSQL is what a replay sends for st in database db. The clock
// (now(), outside definitions such as a view's) reads the time the
// statement was first sent, the same for both engines.
func statementSQL(st chsql.Statement, db string) string {
	if st.Name == "chsql.create_database" && createDatabase.MatchString(st.SQL) {
		return "CREATE DATABASE IF NOT EXISTS " + db
	}
	if st.At > 0 && !ddl.MatchString(st.SQL) {
		return strings.ReplaceAll(st.SQL, "now()", "toDateTime("+strconv.FormatInt(st.At, 10)+")")
	}
	return st.SQL
}

var mutation = regexp.MustCompile(`(?is)^\s*ALTER\s+TABLE\s+\S+\s+(DELETE|UPDATE)\b`)

// oldServer replays on the local ClickHouse 18.16 through its HTTP port,
// which answers as text like chDB.
type oldServer struct {
	base string
	http *http.Client
}

func (s oldServer) run(ctx context.Context, db, sql string) answer {
	// wait_end_of_query: an error after the first rows is an error status,
	// not rows with an exception appended.
	u := s.base + "/?" + url.Values{"database": {db}, "wait_end_of_query": {"1"}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(sql))
	if err != nil {
		return answer{Code: -1, Error: err.Error()}
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return answer{Code: -1, Error: err.Error()}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		a := answer{Code: -1, Error: strings.TrimSpace(string(body))}
		if m := regexp.MustCompile(`Code: (\d+)`).FindStringSubmatch(a.Error); m != nil {
			a.Code, _ = strconv.Atoi(m[1])
		}
		return a
	}
	return answer{TSV: string(body)}
}

// waitMutations waits until the mutations of db are done: 18.16 runs them
// in the background, and has no mutations_sync.
func (s oldServer) waitMutations(ctx context.Context, t *testing.T, db string) {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		a := s.run(ctx, "default", "SELECT count() FROM system.mutations WHERE database = "+chsql.Quote(db)+" AND is_done = 0")
		if a.Code == 0 && strings.TrimSpace(a.TSV) == "0" {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Errorf("mutations of %s not done after 60 s", db)
}

// number is a number with a fraction or an exponent: the two engines may
// print the same Float64 with different last digits.
var number = regexp.MustCompile(`^-?\d+\.\d+(?:e[+-]?\d+)?$|^-?\d+e[+-]?\d+$`)

// zeroTime is how each engine prints the zero DateTime and Date: 18.16 as
// 0000-00-00, current versions as the epoch. The value is the same.
var zeroTime = strings.NewReplacer("0000-00-00 00:00:00", "1970-01-01 00:00:00", "0000-00-00", "1970-01-01")

// roundNumber is s to 12 significant digits if s is a number with a
// fraction or an exponent, else s.
func roundNumber(s string) string {
	if !number.MatchString(s) {
		return s
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return s
	}
	return strconv.FormatFloat(f, 'g', 12, 64)
}

// normaliseField is one TSV field as compared: a number rounded, and in an
// array or tuple each element outside quotes; text inside a string (a
// page "/v1.50", a name) is compared as it is.
func normaliseField(f string) string {
	f = zeroTime.Replace(f)
	if f == "" || (f[0] != '[' && f[0] != '(') {
		return roundNumber(f)
	}
	var b strings.Builder
	tok := 0 // start of the element being read outside quotes
	flush := func(i int) {
		b.WriteString(roundNumber(f[tok:i]))
	}
	for i := 0; i < len(f); i++ {
		switch c := f[i]; c {
		case '\'':
			flush(i)
			j := i + 1
			for j < len(f) && f[j] != '\'' {
				if f[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(f) {
				j = len(f) - 1
			}
			b.WriteString(f[i : j+1])
			i, tok = j, j+1
		case '[', ']', '(', ')', ',':
			flush(i)
			b.WriteByte(c)
			tok = i + 1
		}
	}
	if tok < len(f) {
		flush(len(f))
	}
	return b.String()
}

// normalise is an answer as the multiset of its rows, each field as
// normaliseField makes it.
func normalise(tsv string) string {
	lines := strings.Split(strings.TrimSuffix(tsv, "\n"), "\n")
	for i, l := range lines {
		fields := strings.Split(l, "\t")
		for j, f := range fields {
			fields[j] = normaliseField(f)
		}
		lines[i] = strings.Join(fields, "\t")
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// sameError says whether two answers agree on failing: both succeed, or
// both fail with the same code. The pairs of codes taken as the same are
// ADD COLUMN finding its column there (44 on 18.16, 15 on current
// versions) and DROP COLUMN finding it gone (44, 10), which the migration
// runner accepts from either (chsql.ColumnDone).
//
// Both failing agrees only for a statement that failed when its test sent
// it (a migration's ALTER run again on purpose): one that a test ran
// without an error and that now fails on both engines is broken, not
// alike.
func sameError(st chsql.Statement, a, b answer) bool {
	if (a.Code != 0) != (b.Code != 0) {
		return false
	}
	if a.Code != 0 && st.Code == 0 {
		return false
	}
	if a.Code == b.Code {
		return true
	}
	return columnDone(st, a) && columnDone(st, b)
}

// columnDone says whether the migration runner takes x, one engine's
// failure of st, as an ALTER's column already added or dropped.
func columnDone(st chsql.Statement, x answer) bool {
	return chsql.ColumnDone(st.SQL, &clickhouse.Exception{Code: int32(x.Code), Message: x.Error})
}

// tsvShape is the number of lines and the fields of each: what can be
// compared of an answer that depends on the server's state.
func tsvShape(tsv string) string {
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimRight(tsv, "\n"), "\n") {
		fmt.Fprintf(&b, "%d,", strings.Count(line, "\t")+1)
	}
	return b.String()
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + fmt.Sprintf("… (%d bytes)", len(s))
	}
	return s
}

func describe(a answer) string {
	if a.Code != 0 {
		return "error " + clip(a.Error, 400)
	}
	return fmt.Sprintf("%q", clip(a.TSV, 600))
}

// TestCurrentClickHouse replays what the tests recorded on ClickHouse
// 18.16 and on current ClickHouse (chDB) and compares every answer.
func TestCurrentClickHouse(t *testing.T) {
	dir := os.Getenv(chsql.RecordEnv)
	if dir == "" {
		t.Fatalf("%s is not set: run the check through make test, which records the other tests' statements", chsql.RecordEnv)
	}
	logs := readLogs(t, dir)
	if len(logs) == 0 {
		t.Fatalf("no recorded statements in %s", dir)
	}

	// Every registered statement ran in some test.
	known := registeredNames(t)
	for _, q := range chsql.Registered() {
		if _, ok := known[q.Name()]; !ok {
			known[q.Name()] = "(registry)"
		}
	}
	ran := map[string]bool{}
	total := 0
	for _, l := range logs {
		for _, st := range l.stmts {
			ran[st.Name] = true
			total++
		}
	}
	var never []string
	for name, where := range known {
		if !ran[name] && !strings.HasPrefix(name, "chsql.test_") {
			never = append(never, name+" ("+where+")")
		}
	}
	sort.Strings(never)
	for _, n := range never {
		t.Errorf("statement %s never ran in a test, so it is not checked on current ClickHouse: add a test that runs it", n)
	}

	// Every recorded statement is one the registry can send: its name is
	// registered and its text is the registered SQL, slots filled.
	byName := map[string]*chsql.Query{}
	for _, q := range chsql.Registered() {
		byName[q.Name()] = q
	}
	for name, where := range known {
		if _, ok := byName[name]; !ok && where != "(registry)" {
			t.Errorf("statement %s (%s) is not in the check's registry: import its package in compat_test.go", name, where)
		}
	}
	templates := map[string]*regexp.Regexp{}
	strange := map[string]bool{}
	for _, l := range logs {
		for _, st := range l.stmts {
			// A test's own writes, and statements a test registers for
			// itself (named *.test_*), are not the programs'.
			if st.Name == "test.raw" || strings.Contains(st.Name, ".test_") || strange[st.Name] {
				continue
			}
			q, ok := byName[st.Name]
			if !ok {
				strange[st.Name] = true
				t.Errorf("%s: recorded statement %s is not registered", l.db, st.Name)
				continue
			}
			re, ok := templates[st.Name]
			if !ok {
				re = templateOf(q)
				templates[st.Name] = re
			}
			if !re.MatchString(st.Template) {
				strange[st.Name] = true
				t.Errorf("%s: statement %s was recorded with a text that is not its registered SQL:\n  recorded:   %s\n  registered: %s",
					l.db, st.Name, clip(st.Template, 600), clip(q.SQL(), 600))
			}
		}
	}

	// Every log is replayed whole, not a cover of the shapes: the same
	// statement answers differently on other data (an ANY INNER JOIN is
	// only wrong where a key has two rows).
	var picked []log
	allShapes := map[string]bool{}
	for _, l := range logs {
		if part := replayable(l); len(part) > 0 {
			picked = append(picked, log{db: l.db, stmts: part})
			for k := range shapes(part) {
				allShapes[k] = true
			}
		}
		for i, st := range l.stmts {
			if st.Kind == "gap" {
				t.Logf("%s: statements %d to %d not replayed: the test wrote in a way that could not be recorded", l.db, i+1, len(l.stmts))
				break
			}
		}
	}
	plan := struct {
		Logs []map[string]any `json:"logs"`
	}{}
	replays := 0
	for _, l := range picked {
		var sts []map[string]string
		for _, st := range l.stmts {
			sts = append(sts, map[string]string{"kind": st.Kind, "sql": statementSQL(st, replayDB(l.db))})
		}
		replays += len(sts)
		plan.Logs = append(plan.Logs, map[string]any{"db": replayDB(l.db), "statements": sts})
	}
	planFile := filepath.Join(t.TempDir(), "plan.json")
	raw, _ := json.Marshal(plan)
	if err := os.WriteFile(planFile, raw, 0o644); err != nil {
		t.Fatal(err)
	}

	// chDB in the background while 18.16 replays here.
	python := os.Getenv("FOOTFALL_CHDB_PYTHON")
	if python == "" {
		python = filepath.Join(repoRoot(t), ".local", "chdb-venv", "bin", "python")
	}
	var newOut bytes.Buffer
	var newErr bytes.Buffer
	cmd := exec.Command(python, "replay_chdb.py", planFile)
	cmd.Env = append(os.Environ(), "TZ=UTC")
	cmd.Stdout, cmd.Stderr = &newOut, &newErr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start chDB (deploy/local/stack.sh chdb installs it): %v", err)
	}
	chdbDone := make(chan error, 1)
	go func() { chdbDone <- cmd.Wait() }()

	ctx := context.Background()
	addr := os.Getenv("FOOTFALL_CLICKHOUSE_HTTP")
	if addr == "" {
		addr = "http://127.0.0.1:8123"
	}
	old := oldServer{base: addr, http: &http.Client{Timeout: 120 * time.Second}}
	oldVersion := strings.TrimSpace(old.run(ctx, "default", "SELECT version()").TSV)
	if oldVersion == "" {
		t.Fatalf("ClickHouse 18.16 does not answer over HTTP at %s (make test starts it)", addr)
	}
	oldAnswers := map[string][]answer{}
	for _, l := range picked {
		db := replayDB(l.db)
		old.run(ctx, "default", "DROP DATABASE IF EXISTS "+db)
		for _, st := range l.stmts {
			sql := statementSQL(st, db)
			qdb := db
			if st.Name == "chsql.create_database" {
				qdb = "default"
			}
			a := old.run(ctx, qdb, sql)
			if a.Code == 0 && mutation.MatchString(sql) {
				old.waitMutations(ctx, t, db)
			}
			if st.Kind != "query" {
				a.TSV = ""
			}
			oldAnswers[db] = append(oldAnswers[db], a)
		}
		old.run(ctx, "default", "DROP DATABASE IF EXISTS "+db)
	}

	if err := <-chdbDone; err != nil {
		t.Fatalf("chDB replay: %v\n%s", err, clip(newErr.String(), 4000))
	}
	newAnswers := map[string][]answer{}
	newVersion := ""
	sc := bufio.NewScanner(&newOut)
	sc.Buffer(make([]byte, 1<<20), 256<<20)
	for sc.Scan() {
		var line struct {
			answer
			Version string `json:"version"`
			DB      string `json:"db"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("chDB replay output: %v", err)
		}
		if line.Version != "" {
			newVersion = line.Version
			continue
		}
		newAnswers[line.DB] = append(newAnswers[line.DB], line.answer)
	}

	// Statements that read the server's state answer what merges left or
	// what else runs; only their running and the shape of their answer
	// are compared.
	serverState := map[string]string{}
	for _, q := range chsql.Registered() {
		if why := q.ServerState(); why != "" {
			serverState[q.Name()] = why
			t.Logf("%s depends on the server's state (%s): its numbers are not compared", q.Name(), why)
		}
	}
	checked := map[string]bool{}
	differ := map[string]bool{}
	for _, l := range picked {
		db := replayDB(l.db)
		o, n := oldAnswers[db], newAnswers[db]
		if len(n) != len(l.stmts) {
			t.Errorf("%s: chDB answered %d of %d statements", l.db, len(n), len(l.stmts))
			continue
		}
		for i, st := range l.stmts {
			if st.Name != "test.raw" && st.Name != "chsql.create_database" {
				checked[st.Name+"\x00"+st.Template] = true
			}
			a, b := o[i], n[i]
			// A migration's ADD or DROP COLUMN run again (a migration cut
			// short, two processors starting at once) fails on both
			// engines, with different codes: the runner must take either
			// as done.
			for _, x := range []answer{a, b} {
				up := strings.ToUpper(st.SQL)
				if x.Code != 0 && (strings.Contains(up, "ADD COLUMN") || strings.Contains(up, "DROP COLUMN")) && !columnDone(st, x) {
					t.Errorf("statement %s: the migration runner would stop on this answer to ADD or DROP COLUMN: %s", st.Name, clip(x.Error, 300))
				}
			}
			same := sameError(st, a, b)
			switch {
			case !same || a.Code != 0 || st.Kind != "query":
			case serverState[st.Name] != "":
				same = tsvShape(a.TSV) == tsvShape(b.TSV)
			default:
				same = normalise(a.TSV) == normalise(b.TSV)
			}
			if same || differ[st.Name] {
				continue
			}
			differ[st.Name] = true
			t.Errorf("statement %s (%s, statement %d of test database %s) answers differently:\n  ClickHouse %s: %s\n  ClickHouse %s: %s\n  SQL: %s",
				st.Name, st.Kind, i+1, l.db, oldVersion, describe(a), newVersion, describe(b), clip(st.SQL, 1500))
		}
	}
	t.Logf("%d statements recorded in %d test databases; %d registered statements, %d shapes (%d replayed); replayed %d statements of %d databases on ClickHouse %s and on ClickHouse %s (chDB); %d statements answered differently",
		total, len(logs), len(known), len(allShapes), len(checked), replays, len(picked), oldVersion, newVersion, len(differ))
}
