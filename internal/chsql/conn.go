package chsql

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Config says where ClickHouse is and as whom to connect.
type Config struct {
	// Addr is the native protocol address, host:9000, or several, comma
	// separated: connections open on them in turn, and one that does not
	// answer is passed over (clickhouse-go's round robin).
	Addr     string
	Database string
	User     string
	Password string
	// Cluster, when set, is the ClickHouse cluster the database lives on:
	// migrations and DDL are rewritten for it (cluster.go).
	Cluster string
}

// Addrs is Addr split at its commas.
func (cfg Config) Addrs() []string {
	var out []string
	for _, a := range strings.Split(cfg.Addr, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

var dbName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Conn is a ClickHouse connection pool that only sends registered
// statements. Safe for concurrent use.
type Conn struct {
	conn    driver.Conn
	db      string
	rec     *recorder
	cluster string
}

// Open connects to cfg.Database, which must exist: a reader never creates
// anything. Writers call CreateDatabase first.
func Open(ctx context.Context, cfg Config) (*Conn, error) {
	if !dbName.MatchString(cfg.Database) {
		return nil, fmt.Errorf("clickhouse database name %q: want letters, digits and _", cfg.Database)
	}
	if cfg.Cluster != "" && !dbName.MatchString(cfg.Cluster) {
		return nil, fmt.Errorf("clickhouse cluster name %q: want letters, digits and _", cfg.Cluster)
	}
	conn, err := dial(ctx, cfg, cfg.Database)
	if err != nil {
		return nil, err
	}
	if cfg.Cluster != "" {
		// What a cluster is sent is not what the current-ClickHouse check
		// replays (ON CLUSTER, Replicated engines): not recorded.
		return &Conn{conn: conn, db: cfg.Database, cluster: cfg.Cluster}, nil
	}
	return &Conn{conn: conn, db: cfg.Database, rec: recorderFor(cfg.Database)}, nil
}

var createDatabase = New("chsql.create_database", `CREATE DATABASE IF NOT EXISTS {{database}}`)

// CreateDatabase creates cfg.Database if it does not exist, connecting to
// the server's default database to do it. On a cluster it is created ON
// CLUSTER, and only if the server does not know it: ON CLUSTER DDL waits
// for every node, and a program starting while one is down must not.
func CreateDatabase(ctx context.Context, cfg Config) error {
	if !dbName.MatchString(cfg.Database) {
		return fmt.Errorf("clickhouse database name %q: want letters, digits and _", cfg.Database)
	}
	if cfg.Cluster != "" {
		if !dbName.MatchString(cfg.Cluster) {
			return fmt.Errorf("clickhouse cluster name %q: want letters, digits and _", cfg.Cluster)
		}
		if there, err := dial(ctx, cfg, cfg.Database); err == nil {
			there.Close()
			return nil
		}
	}
	boot, err := dial(ctx, cfg, "default")
	if err != nil {
		return err
	}
	defer boot.Close()
	// Recorded with the database's own statements: the check replays it
	// under a database name of its own.
	c := &Conn{conn: boot, db: "default", rec: recorderFor(cfg.Database)}
	if cfg.Cluster != "" {
		c = &Conn{conn: boot, db: "default", cluster: cfg.Cluster}
	}
	// The name is checked above; DDL cannot take it as a parameter.
	if err := c.Exec(ctx, createDatabase.With(map[string]string{"database": cfg.Database}), nil); err != nil {
		return fmt.Errorf("create database %s: %w", cfg.Database, err)
	}
	return nil
}

func dial(ctx context.Context, cfg Config, db string) (driver.Conn, error) {
	addrs := cfg.Addrs()
	if len(addrs) == 0 {
		return nil, fmt.Errorf("open clickhouse: no address")
	}
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr:        addrs,
		Auth:        clickhouse.Auth{Database: db, Username: cfg.User, Password: cfg.Password},
		DialTimeout: 5 * time.Second,
		ReadTimeout: 60 * time.Second,
		// Each new connection tries the next address first, and passes
		// over one that does not answer: a dead node costs a refused dial.
		ConnOpenStrategy: clickhouse.ConnOpenRoundRobin,
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
// ALTER. On a cluster, DDL is sent as ClusterSQL makes it.
func (c *Conn) Exec(ctx context.Context, q *Query, args Args) error {
	sql, err := c.bind(q, args)
	if err != nil {
		return err
	}
	if c.cluster != "" {
		for _, s := range ClusterSQL(sql, c.db, c.cluster) {
			if err := c.conn.Exec(ctx, s); err != nil {
				return err
			}
		}
		return nil
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
