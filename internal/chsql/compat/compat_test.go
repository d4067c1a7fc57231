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
	_ "footfall/internal/segments"
	_ "footfall/internal/sessionstats"
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

// cover picks logs until every statement shape recorded anywhere is in
// one of them, each time the log with the most new shapes per statement
// replayed.
func cover(logs []log) []log {
	shapes := map[string]bool{}
	parts := make([][]chsql.Statement, len(logs))
	for i, l := range logs {
		parts[i] = replayable(l)
		for _, st := range parts[i] {
			// A test's own writes need no shape of their own, and each
			// log creates its database under a name of its own.
			if st.Name != "test.raw" && st.Name != "chsql.create_database" {
				shapes[st.Name+"\x00"+st.Template] = true
			}
		}
	}
	var picked []log
	used := make([]bool, len(logs))
	for len(shapes) > 0 {
		best, bestScore := -1, 0.0
		for i := range logs {
			if used[i] || len(parts[i]) == 0 {
				continue
			}
			seen := map[string]bool{}
			for _, st := range parts[i] {
				if k := st.Name + "\x00" + st.Template; shapes[k] {
					seen[k] = true
				}
			}
			if score := float64(len(seen)) / float64(len(parts[i])); len(seen) > 0 && score > bestScore {
				best, bestScore = i, score
			}
		}
		if best < 0 {
			break
		}
		used[best] = true
		for _, st := range parts[best] {
			delete(shapes, st.Name+"\x00"+st.Template)
		}
		picked = append(picked, log{db: logs[best].db, stmts: parts[best]})
	}
	return picked
}

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

var number = regexp.MustCompile(`-?\d+\.\d+(?:e[+-]?\d+)?|-?\d+e[+-]?\d+`)

// zeroTime is how each engine prints the zero DateTime and Date: 18.16 as
// 0000-00-00, current versions as the epoch. The value is the same.
var zeroTime = strings.NewReplacer("0000-00-00 00:00:00", "1970-01-01 00:00:00", "0000-00-00", "1970-01-01")

// normalise is an answer as the multiset of its rows, numbers with a
// fraction to 12 significant digits, zero times alike.
func normalise(tsv string) string {
	lines := strings.Split(strings.TrimSuffix(zeroTime.Replace(tsv), "\n"), "\n")
	for i, l := range lines {
		lines[i] = number.ReplaceAllStringFunc(l, func(s string) string {
			f, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return s
			}
			return strconv.FormatFloat(f, 'g', 12, 64)
		})
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
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

	picked := cover(logs)
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
			checked[st.Name+"\x00"+st.Template] = true
			a, b := o[i], n[i]
			// A migration's ADD COLUMN run again (a migration cut short,
			// two processors starting at once) fails on both engines, with
			// different codes: the runner must take either as done.
			for _, x := range []answer{a, b} {
				if x.Code != 0 && strings.Contains(strings.ToUpper(st.SQL), "ADD COLUMN") &&
					!chsql.ColumnThere(st.SQL, &clickhouse.Exception{Code: int32(x.Code), Message: x.Error}) {
					t.Errorf("statement %s: the migration runner would stop on this answer to ADD COLUMN: %s", st.Name, clip(x.Error, 300))
				}
			}
			same := (a.Code != 0) == (b.Code != 0)
			if same && a.Code == 0 && st.Kind == "query" {
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
	t.Logf("%d statements recorded in %d test databases; %d registered statements, %d shapes; replayed %d statements of %d databases on ClickHouse %s and on ClickHouse %s (chDB); %d statements answered differently",
		total, len(logs), len(known), len(checked), replays, len(picked), oldVersion, newVersion, len(differ))
}
