package chsql_test

import (
	"context"
	"net"
	"testing"

	"footfall/internal/chsql"
	"footfall/tests/stacktest"
)

var qOne = chsql.New("chsql.test_one", "SELECT 1")

// Several addresses: a connection opens on the next one that answers, so
// a server that is down costs a refused dial, not a failed statement.
func TestSeveralAddresses(t *testing.T) {
	cfg, _ := stacktest.ClickHouse(t)
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close() // nothing listens there now
	cfg.Addr = deadAddr + ", " + cfg.Addr + "," + deadAddr
	c, err := chsql.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Statements at once, so that the pool opens several connections,
	// each starting from the next address.
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		go func() {
			rows, err := c.Query(context.Background(), qOne, nil)
			if err == nil {
				for rows.Next() {
				}
				err = rows.Err()
				rows.Close()
			}
			errs <- err
		}()
	}
	for i := 0; i < 8; i++ {
		if err := <-errs; err != nil {
			t.Errorf("statement %d with a dead address listed: %v", i, err)
		}
	}
}
