package main

import (
	"context"
	"testing"

	"footfall/tests/stacktest"
)

// TestQueryCost: what the bench prints beside a report's wall time is
// ClickHouse's own account of the statements sent with the report's tag,
// and of those alone.
func TestQueryCost(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	ctx := context.Background()
	drv := store.DB().Driver()
	read := func(ctx context.Context, n string) {
		t.Helper()
		var sum uint64
		if err := drv.QueryRow(ctx, "SELECT sum(number) FROM numbers("+n+")").Scan(&sum); err != nil {
			t.Fatal(err)
		}
	}
	// Two statements under one tag, one under another, one untagged
	// (numbers() reads blocks of 65,536 rows).
	tagged := costContext(ctx, t.Name()+"-big")
	read(tagged, "2621440")
	read(tagged, "655360")
	read(costContext(ctx, t.Name()+"-small"), "1000")
	read(ctx, "5000")

	big, err := queryCost(ctx, store, t.Name()+"-big")
	if err != nil {
		t.Fatal(err)
	}
	if big.rows != 3_276_800 || big.cpu <= 0 {
		t.Errorf("big: %d rows, %s CPU; want 3276800 rows and some CPU", big.rows, big.cpu)
	}
	small, err := queryCost(ctx, store, t.Name()+"-small")
	if err != nil {
		t.Fatal(err)
	}
	if small.rows != 1000 {
		t.Errorf("small: %d rows, want 1000", small.rows)
	}
	if _, err := queryCost(ctx, store, t.Name()+"-never-sent"); err == nil {
		t.Error("a tag nothing was sent with has a cost")
	}
}
