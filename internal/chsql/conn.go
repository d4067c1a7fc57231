package chsql

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
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
	// ReadTimeout is how long a statement may run when its context has no
	// deadline: clickhouse-go fails it then (the server goes on). Zero
	// means 60 s. Long jobs bound their context instead (refresh.Bound);
	// a batch insert keeps its context's deadline too (PrepareBatch).
	ReadTimeout time.Duration
}

// readTimeout is ReadTimeout, 60 s when unset.
func (cfg Config) readTimeout() time.Duration {
	if cfg.ReadTimeout > 0 {
		return cfg.ReadTimeout
	}
	return 60 * time.Second
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
	// cfg is what the connection was opened with: its read timeout
	// (PrepareBatch) and, on a cluster, how to reach one node
	// (execPerShard).
	cfg Config
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
	if cfg.Cluster == "" && len(cfg.Addrs()) > 1 {
		// Each connection may open on any of them, and the database is
		// made on one: right for several names of one server only.
		slog.Warn("several ClickHouse addresses without -clickhouse-cluster: they are taken for one server; a cluster needs -clickhouse-cluster", "addrs", cfg.Addr)
	}
	if cfg.Cluster != "" {
		// What a cluster is sent is not what the current-ClickHouse check
		// replays (ON CLUSTER, Replicated engines): not recorded.
		return &Conn{conn: conn, db: cfg.Database, cluster: cfg.Cluster, cfg: cfg}, nil
	}
	return &Conn{conn: conn, db: cfg.Database, rec: recorderFor(cfg.Database), cfg: cfg}, nil
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
	c := &Conn{conn: boot, db: "default", rec: recorderFor(cfg.Database), cfg: cfg}
	if cfg.Cluster != "" {
		c = &Conn{conn: boot, db: "default", cluster: cfg.Cluster, cfg: cfg}
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
		ReadTimeout: cfg.readTimeout(),
		// A report may run up to four statements at once (the overview,
		// a breakdown from the rollups), and a dashboard asks several
		// reports together: past clickhouse-go's default of 10, a
		// statement waited DialTimeout for a connection, then failed.
		MaxOpenConns: 32,
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

// Cluster is the cluster's name in cluster mode (Config.Cluster), or "".
func (c *Conn) Cluster() string { return c.cluster }

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
			if err := c.execOnCluster(ctx, s); err != nil {
				return err
			}
		}
		return nil
	}
	err = c.conn.Exec(ctx, sql)
	c.rec.record(q.name, kindExec, q.sql, sql, err)
	return err
}

// clusterAttempts bounds how many times a cluster sends one DDL statement.
const clusterAttempts = 3

// execOnCluster sends one statement of ClusterSQL. Each piece of a
// statement goes on its own: a column found as the piece would leave it is
// that piece done (ColumnDone), and the pieces after it still run (a
// migration cut short between the local and the Distributed ALTER). A DDL
// statement whose answer does not come is sent again: 18.16's DDL worker
// can fail a task on a ZooKeeper race ("Node exists" for a shard's
// executed mark, seen once in make test-cluster) and never report it, and
// every statement ClusterSQL makes finds its work done when run again.
func (c *Conn) execOnCluster(ctx context.Context, s string) error {
	if m := reShardAlter.FindStringSubmatch(s); m != nil && m[2] == c.cluster {
		return c.execPerShard(ctx, m[1]+m[3])
	}
	ddl := strings.Contains(s, " ON CLUSTER ")
	var err error
	for attempt := 1; attempt <= clusterAttempts; attempt++ {
		err = c.conn.Exec(ctx, s)
		if err == nil || ColumnDone(s, err) {
			return nil
		}
		var ne net.Error
		if !ddl || ctx.Err() != nil || !errors.As(err, &ne) || !ne.Timeout() {
			return err
		}
		slog.Warn("cluster DDL answered nothing in time; sending it again", "statement", s, "attempt", attempt, "err", err)
	}
	return err
}

// reShardAlter is an ALTER or OPTIMIZE of a sharded table's replicated
// local table ON CLUSTER (ClusterSQL): the statement before and after "ON
// CLUSTER name". Both are the shard's to run once, by one replica.
var reShardAlter = regexp.MustCompile(`(?s)^((?:ALTER|OPTIMIZE) TABLE \w+\.\w+_local) ON CLUSTER (\w+)((?: .*)?)$`)

// qShards lists the cluster's nodes, shard by shard.
var qShards = New("chsql.cluster_shards", `SELECT shard_num, host_address, port FROM system.clusters
WHERE cluster = @cluster ORDER BY shard_num, replica_num`)

// execPerShard sends an ALTER of a replicated local table to one replica
// of each shard, without ON CLUSTER: the shard's other replicas follow it
// through ZooKeeper. Sent ON CLUSTER, 18.16's DDL worker lets both
// replicas of a shard take the task now and then; the second finds the
// column there, fails to mark the shard done ("Node exists: .../shards/
// <replicas>/executed") and never reports, so the statement waits out its
// timeout, and a resent one alike (two migrations of four in make
// test-cluster on a loaded machine). A replica that does not answer is
// passed over for the next of its shard.
func (c *Conn) execPerShard(ctx context.Context, stmt string) error {
	rows, err := c.Query(ctx, qShards, Args{"cluster": c.cluster})
	if err != nil {
		return fmt.Errorf("read the shards of cluster %s: %w", c.cluster, err)
	}
	shards := map[uint32][]string{}
	var order []uint32
	for rows.Next() {
		var shard uint32
		var host string
		var port uint16
		if err := rows.Scan(&shard, &host, &port); err != nil {
			rows.Close()
			return fmt.Errorf("read the shards of cluster %s: %w", c.cluster, err)
		}
		if shards[shard] == nil {
			order = append(order, shard)
		}
		shards[shard] = append(shards[shard], net.JoinHostPort(host, fmt.Sprint(port)))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read the shards of cluster %s: %w", c.cluster, err)
	}
	if len(order) == 0 {
		return fmt.Errorf("cluster %s: no shards in system.clusters", c.cluster)
	}
	for _, shard := range order {
		var last error
		for _, addr := range shards[shard] {
			cfg := c.cfg
			cfg.Addr = addr
			node, err := dial(ctx, cfg, c.db)
			if err == nil {
				err = node.Exec(ctx, stmt)
				node.Close()
			}
			if err == nil || ColumnDone(stmt, err) {
				last = nil
				break
			}
			last = fmt.Errorf("shard %d, replica %s: %w", shard, addr, err)
			var ex *clickhouse.Exception
			if errors.As(err, &ex) {
				break // the server's answer, not an unreachable node
			}
		}
		if last != nil {
			return last
		}
	}
	return nil
}

// PrepareBatch starts a batch insert: q is "INSERT INTO t (columns)",
// with the columns named (ClickHouse 18.16 needs them). On a cluster, an
// insert into a table that views read goes to <t>_in (see ClusterSQL). The batch is
// detached from ctx's cancellation (see Detach); the connection's read
// timeout bounds a stuck insert, or ctx's deadline when that is later (a
// refresh's, refresh.Bound: a batch is never cut shorter than before).
func (c *Conn) PrepareBatch(ctx context.Context, q *Query) (driver.Batch, error) {
	sql := q.sql
	if c.cluster != "" {
		// A table that views read takes its rows through <t>_in (see
		// ClusterSQL).
		sql = ClusterSQL(sql, c.db, c.cluster)[0]
	}
	bctx := Detach(ctx)
	if d, ok := ctx.Deadline(); ok && time.Until(d) > c.cfg.readTimeout() {
		bctx = detachKeepingDeadline(ctx)
	}
	b, err := c.conn.PrepareBatch(bctx, sql)
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

// detachKeepingDeadline is Detach keeping ctx's deadline: clickhouse-go
// reads Deadline only to set the socket's, so the batch is bounded by it,
// while no Done channel can close the connection late.
func detachKeepingDeadline(ctx context.Context) context.Context {
	return deadlineOnly{context.WithoutCancel(ctx), ctx}
}

type deadlineOnly struct {
	context.Context // Done, Err: never; Value: the parent's
	parent          context.Context
}

func (d deadlineOnly) Deadline() (time.Time, bool) { return d.parent.Deadline() }

type errRow struct{ err error }

func (r errRow) Err() error                       { return r.err }
func (r errRow) Scan(...any) error                { return r.err }
func (r errRow) ScanStruct(any) error             { return r.err }
func (r errRow) ColumnTypes() []driver.ColumnType { return nil }
