package chsql

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/google/uuid"
)

// RecordEnv names a directory: when set, every connection appends each
// statement it sends, bound, to <dir>/<database>.jsonl, in the order the
// server answered them. make test sets it, and the current-ClickHouse check
// replays those logs on ClickHouse 18.16 and on current ClickHouse.
const RecordEnv = "FOOTFALL_SQL_RECORD"

// Statement is one line of a record.
type Statement struct {
	Name string `json:"name"` // registered name; "test.raw" for a test's own write
	Kind string `json:"kind"` // exec, query, insert, or gap (a write that could not be recorded)
	// Template is the statement before binding: one per shape of a
	// composed statement, which the check replays at least once each.
	Template string `json:"template"`
	SQL      string `json:"sql"`
	// At is when it was sent, in Unix seconds: the check replays now()
	// as this time, so that both engines see the same clock.
	At int64 `json:"at"`
	// Code is the server's error code when the statement failed (0: it
	// succeeded, -1: it failed without one).
	Code int32 `json:"code,omitempty"`
}

const (
	kindExec   = "exec"
	kindQuery  = "query"
	kindInsert = "insert"
	kindGap    = "gap"
)

type recorder struct {
	mu sync.Mutex
	f  *os.File
}

var (
	recMu     sync.Mutex
	recorders = map[string]*recorder{}
)

// recorderFor is the recorder of database db, or nil when not recording.
func recorderFor(db string) *recorder {
	dir := os.Getenv(RecordEnv)
	if dir == "" {
		return nil
	}
	recMu.Lock()
	defer recMu.Unlock()
	if r, ok := recorders[db]; ok {
		return r
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		panic(fmt.Sprintf("chsql: %s: %v", RecordEnv, err))
	}
	f, err := os.OpenFile(filepath.Join(dir, db+".jsonl"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		panic(fmt.Sprintf("chsql: %s: %v", RecordEnv, err))
	}
	r := &recorder{f: f}
	recorders[db] = r
	return r
}

func (r *recorder) record(name, kind, template, sql string, err error) {
	if r == nil {
		return
	}
	st := Statement{Name: name, Kind: kind, Template: template, SQL: sql, At: time.Now().Unix()}
	if err != nil {
		st.Code = -1
		var ex *clickhouse.Exception
		if errors.As(err, &ex) {
			st.Code = ex.Code
		}
	}
	line, _ := json.Marshal(st)
	r.mu.Lock()
	defer r.mu.Unlock()
	// One write per line: lines of processes sharing a database stay whole.
	r.f.Write(append(line, '\n'))
}

// recordedBatch renders the rows of a batch insert as VALUES when it is
// sent, so that the check can insert the same rows on another engine.
type recordedBatch struct {
	driver.Batch
	name, sql string
	rec       *recorder
}

func (b *recordedBatch) Send() error {
	values, verr := b.values()
	err := b.Batch.Send()
	if verr != nil {
		b.rec.record(b.name, kindGap, b.sql, b.sql, verr)
		return err
	}
	b.rec.record(b.name, kindInsert, b.sql, b.sql+" VALUES "+values, err)
	return err
}

func (b *recordedBatch) values() (string, error) {
	cols := b.Batch.Columns()
	if len(cols) == 0 {
		return "", errors.New("batch has no columns")
	}
	n := cols[0].Rows()
	var sb strings.Builder
	for i := 0; i < n; i++ {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteByte('(')
		for j, c := range cols {
			if j > 0 {
				sb.WriteString(", ")
			}
			lit, err := valueLiteral(string(c.Type()), c.Row(i, false))
			if err != nil {
				return "", fmt.Errorf("column %s row %d: %w", c.Name(), i, err)
			}
			sb.WriteString(lit)
		}
		sb.WriteByte(')')
	}
	return sb.String(), nil
}

// rawConn is what Driver hands tests: writes are recorded when they can be.
type rawConn struct {
	driver.Conn
	rec *recorder
}

func (c rawConn) Exec(ctx context.Context, sql string, args ...any) error {
	err := c.Conn.Exec(ctx, sql, args...)
	if len(args) == 0 {
		c.rec.record("test.raw", kindExec, sql, sql, err)
	} else {
		c.rec.record("test.raw", kindGap, sql, sql, err)
	}
	return err
}

func (c rawConn) PrepareBatch(ctx context.Context, sql string, opts ...driver.PrepareBatchOption) (driver.Batch, error) {
	b, err := c.Conn.PrepareBatch(ctx, sql, opts...)
	if err != nil || c.rec == nil {
		return b, err
	}
	return &recordedBatch{Batch: b, name: "test.raw", sql: sql, rec: c.rec}, nil
}

// valueLiteral is v as it goes in a VALUES list: times and UUIDs as plain
// strings, which the column's type parses (no per-row expressions, which
// 18.16 evaluates slowly); the servers' time zone is UTC.
func valueLiteral(colType string, v any) (string, error) {
	switch x := v.(type) {
	case time.Time:
		if colType == "Date" {
			return "'" + x.UTC().Format(time.DateOnly) + "'", nil
		}
		return "'" + x.UTC().Format(time.DateTime) + "'", nil
	case uuid.UUID:
		return "'" + x.String() + "'", nil
	}
	return Literal(v)
}
