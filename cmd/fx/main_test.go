package main

import (
	"bytes"
	"strings"
	"testing"

	"footfall/tests/stacktest"
)

// TestLoadAndList: bin/fx load takes the ECB's CSV from standard input
// into the database named by the ClickHouse flags (USD and JPY on two
// days, and the euro's 1 on each), and lists what the table holds; a
// file that is no rate table is refused with its line, nothing loaded.
func TestLoadAndList(t *testing.T) {
	cfg, _ := stacktest.ClickHouse(t)
	flags := []string{"-clickhouse-addr", cfg.Addr, "-clickhouse-db", cfg.Database, "-clickhouse-user", cfg.User, "-clickhouse-password", cfg.Password}
	var out, errs bytes.Buffer
	csv := "Date,USD,JPY,\n2026-11-09,1.1000,160.00,\n2026-11-06,1.0921,157.21,\n"
	if rc := run(append(append([]string{"load"}, flags...), "-"), strings.NewReader(csv), &out, &errs); rc != 0 {
		t.Fatalf("load: %d, %s", rc, errs.String())
	}
	want := "loaded 6 rates (the euro's own included)\nEUR 2026-11-06 to 2026-11-09, 2 days\nJPY 2026-11-06 to 2026-11-09, 2 days\nUSD 2026-11-06 to 2026-11-09, 2 days\n"
	if out.String() != want {
		t.Errorf("load said\n%s\nwant\n%s", out.String(), want)
	}
	out.Reset()
	errs.Reset()
	if rc := run(append(append([]string{"load"}, flags...), "-"), strings.NewReader("Date,USD\n2026-11-10,1,0\n2026-11-11,x\n"), &out, &errs); rc != 1 ||
		!strings.Contains(errs.String(), "line 2") {
		t.Errorf("a bad file: %d, %q", rc, errs.String())
	}
	out.Reset()
	if rc := run(append([]string{"list"}, flags...), nil, &out, &errs); rc != 0 || !strings.HasPrefix(out.String(), "EUR 2026-11-06 to 2026-11-09, 2 days\n") {
		t.Errorf("list: %d, %q", rc, out.String())
	}
}
