package stacktest

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"footfall/internal/chsql"
	"footfall/processor/chstore"
)

// ClusterEnv names the test cluster's ClickHouse addresses, comma
// separated: all four nodes of deploy/cluster/cluster.sh (ch1, ch2 shard
// 1; ch3, ch4 shard 2), in that order. make test-cluster sets it.
const ClusterEnv = "FOOTFALL_TEST_CLUSTER_ADDRS"

// ClusterStore migrates a new database (named prefix_<time>) on the test
// cluster and opens it in cluster mode (cluster "footfall"); nodes are a
// connection to each node alone, in the order of ClusterEnv. The database
// is dropped ON CLUSTER when the test ends. Without ClusterEnv the test is
// skipped.
func ClusterStore(t testing.TB, prefix string) (*chstore.Store, []*chsql.Conn) {
	t.Helper()
	addrs := os.Getenv(ClusterEnv)
	if addrs == "" {
		t.Skipf("%s not set: make test-cluster runs this on its own cluster", ClusterEnv)
	}
	ctx := context.Background()
	cfg := chsql.Config{Addr: addrs, Database: fmt.Sprintf("%s_%d", prefix, time.Now().UnixNano()), User: "default", Cluster: "footfall"}
	if err := chsql.CreateDatabase(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	store, err := chstore.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		store.DB().Driver().Exec(context.Background(), "DROP DATABASE IF EXISTS "+cfg.Database+" ON CLUSTER footfall")
		store.Close()
	})
	start := time.Now()
	if err := chsql.Migrate(ctx, store.DB()); err != nil {
		t.Fatal(err)
	}
	t.Logf("migrated on the cluster in %v", time.Since(start).Round(time.Millisecond))
	var nodes []*chsql.Conn
	for _, a := range strings.Split(addrs, ",") {
		n, err := chsql.Open(ctx, chsql.Config{Addr: strings.TrimSpace(a), Database: cfg.Database, User: "default"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close() })
		nodes = append(nodes, n)
	}
	return store, nodes
}
