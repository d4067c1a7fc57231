package chsql

import (
	"context"
	"fmt"
	"regexp"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Config says where ClickHouse is and as whom to connect.
type Config struct {
	Addr     string // native protocol, host:9000
	Database string
	User     string
	Password string
}

var dbName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Conn is a ClickHouse connection pool that only sends registered
// statements. Safe for concurrent use.
type Conn struct {
	conn driver.Conn
	db   string
	rec  *recorder
}

// Open connects to cfg.Database, which must exist: a reader never creates
// anything. Writers call CreateDatabase first.
func Open(ctx context.Context, cfg Config) (*Conn, error) {
	if !dbName.MatchString(cfg.Database) {
		return nil, fmt.Errorf("clickhouse database name %q: want letters, digits and _", cfg.Database)
	}
	conn, err := dial(ctx, cfg, cfg.Database)
	if err != nil {
		return nil, err
	}
	return &Conn{conn: conn, db: cfg.Database, rec: recorderFor(cfg.Database)}, nil
}

var createDatabase = New("chsql.create_database", `CREATE DATABASE IF NOT EXISTS {{database}}`)

// CreateDatabase creates cfg.Database if it does not exist, connecting to
// the server's default database to do it.
func CreateDatabase(ctx context.Context, cfg Config) error {
	if !dbName.MatchString(cfg.Database) {
		return fmt.Errorf("clickhouse database name %q: want letters, digits and _", cfg.Database)
	}
	boot, err := dial(ctx, cfg, "default")
	if err != nil {
		return err
	}
	defer boot.Close()
	// Recorded with the database's own statements: the check replays it
	// under a database name of its own.
	c := &Conn{conn: boot, db: "default", rec: recorderFor(cfg.Database)}
	// The name is checked above; DDL cannot take it as a parameter.
	if err := c.Exec(ctx, createDatabase.With(map[string]string{"database": cfg.Database}), nil); err != nil {
		return fmt.Errorf("create database %s: %w", cfg.Database, err)
	}
	return nil
}

func dial(ctx context.Context, cfg Config, db string) (driver.Conn, error) {
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr:        []string{cfg.Addr},
		Auth:        clickhouse.Auth{Database: db, Username: cfg.User, Password: cfg.Password},
		DialTimeout: 5 * time.Second,
		ReadTimeout: 60 * time.Second,
	})
	if err != nil {
		return nil, fmt.Errorf("open clickhouse %s: %w", cfg.Addr, err)
	}
	if err := conn.Ping(ctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("ping clickhouse %s: %w", cfg.Addr, err)
	}
	return conn, nil
}

// Database is the database the connection uses.
func (c *Conn) Database() string { return c.db }

// Close closes the pool.
func (c *Conn) Close() error { return c.conn.Close() }

// Driver is the driver connection underneath, for tests' own assertions
// only: a test in internal/chsql/compat fails on any non-test
// file that calls it. Writes made through it are still recorded for the
// current-ClickHouse check when they bind no arguments.
func (c *Conn) Driver() driver.Conn { return rawConn{c.conn, c.rec} }

func (c *Conn) bind(q *Query, args Args) (string, error) {
	sql, err := Bind(q.sql, args)
	if err != nil {
		return "", fmt.Errorf("query %s: %w", q.name, err)
	}
	return sql, nil
}

// Query runs a SELECT. The caller closes the rows and checks rows.Err().
func (c *Conn) Query(ctx context.Context, q *Query, args Args) (driver.Rows, error) {
	sql, err := c.bind(q, args)
	if err != nil {
		return nil, err
	}
	rows, err := c.conn.Query(ctx, sql)
	c.rec.record(q.name, kindQuery, q.sql, sql, err)
	return rows, err
}

// QueryRow runs a SELECT of one row.
func (c *Conn) QueryRow(ctx context.Context, q *Query, args Args) driver.Row {
	sql, err := c.bind(q, args)
	if err != nil {
		return errRow{err}
	}
	row := c.conn.QueryRow(ctx, sql)
	c.rec.record(q.name, kindQuery, q.sql, sql, row.Err())
	return row
}

// Select runs a SELECT into dest, a pointer to a slice of structs with
// `ch` tags.
func (c *Conn) Select(ctx context.Context, dest any, q *Query, args Args) error {
	sql, err := c.bind(q, args)
	if err != nil {
		return err
	}
	err = c.conn.Select(ctx, dest, sql)
	c.rec.record(q.name, kindQuery, q.sql, sql, err)
	return err
}

// Exec runs a statement that returns no rows: DDL, INSERT ... SELECT,
// ALTER.
func (c *Conn) Exec(ctx context.Context, q *Query, args Args) error {
	sql, err := c.bind(q, args)
	if err != nil {
		return err
	}
	err = c.conn.Exec(ctx, sql)
	c.rec.record(q.name, kindExec, q.sql, sql, err)
	return err
}

// PrepareBatch starts a batch insert: q is "INSERT INTO t (columns)",
// with the columns named (ClickHouse 18.16 needs them). The batch is
// detached from ctx's cancellation (see Detach); the connection's read
// timeout still bounds a stuck insert.
func (c *Conn) PrepareBatch(ctx context.Context, q *Query) (driver.Batch, error) {
	b, err := c.conn.PrepareBatch(Detach(ctx), q.sql)
	if err != nil {
		c.rec.record(q.name, kindInsert, q.sql, q.sql, err)
		return nil, err
	}
	if c.rec == nil {
		return b, nil
	}
	return &recordedBatch{Batch: b, name: q.name, sql: q.sql, rec: c.rec}, nil
}

// Detach detaches a batch insert from ctx's cancellation. In
// clickhouse-go (v2.50) Send starts a goroutine that closes the connection
// when ctx ends; if that goroutine runs late and the caller cancels ctx just
// after Send returned, it can close a connection already back in the pool,
// and the next query on it fails with "use of closed network connection".
func Detach(ctx context.Context) context.Context { return context.WithoutCancel(ctx) }

type errRow struct{ err error }

func (r errRow) Err() error                       { return r.err }
func (r errRow) Scan(...any) error                { return r.err }
func (r errRow) ScanStruct(any) error             { return r.err }
func (r errRow) ColumnTypes() []driver.ColumnType { return nil }
