package stacktest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"footfall/internal/chsql"
)

// TestReaderRefusesWrites: the connection Reader gives reads the test's
// database and ClickHouse refuses every write through it, so that tests
// whose reports run on it prove the reports write nothing.
func TestReaderRefusesWrites(t *testing.T) {
	// Not recorded for the current-ClickHouse check, which replays as a
	// user that may write: these writes are meant to fail.
	t.Setenv(chsql.RecordEnv, "")
	cfg, store := ClickHouse(t)
	r := Reader(t, store)
	ctx := context.Background()
	if r.Database() != cfg.Database {
		t.Fatalf("reader on %s, want %s", r.Database(), cfg.Database)
	}
	var n uint64
	if err := r.Driver().QueryRow(ctx, "SELECT count() FROM refreshes").Scan(&n); err != nil {
		t.Fatalf("read as %s: %v", ReaderUser, err)
	}
	for _, sql := range []string{
		"INSERT INTO refreshes (site_id, kind, upto, written, full) VALUES ('shop', 'people', now(), 1, 0)",
		"ALTER TABLE people DELETE WHERE site_id = 'shop'",
		"CREATE TABLE probe (x UInt8) ENGINE = Memory",
		"SET max_threads = 1",
	} {
		err := r.Driver().Exec(ctx, sql)
		var ex *clickhouse.Exception
		// 164: READONLY.
		if !errors.As(err, &ex) || ex.Code != 164 {
			t.Errorf("%s as %s: %v, want ClickHouse's readonly refusal (164)", sql, ReaderUser, err)
		}
	}
	b, err := r.Driver().PrepareBatch(ctx, "INSERT INTO refreshes (site_id, kind, upto, written, full)")
	if err == nil {
		err = b.Append("shop", "people", time.Now(), uint64(1), uint8(0))
	}
	if err == nil {
		err = b.Send()
	}
	if err == nil {
		t.Errorf("a batch insert as %s went through", ReaderUser)
	}
	if n := Count(t, store, "SELECT count() FROM refreshes"); n != 0 {
		t.Errorf("%d rows in refreshes after the refused writes", n)
	}
}
