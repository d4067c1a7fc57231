package api

import (
	"bytes"
	"context"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"footfall/internal/chsql"
	"footfall/tests/stacktest"
)

// TestSpool: a spooled answer goes out whole, from memory or, past
// spoolMemory, from its temporary file; nothing goes out before send.
func TestSpool(t *testing.T) {
	for _, n := range []int{10, spoolMemory + 10} {
		var s spool
		data := bytes.Repeat([]byte("0123456789"), n/10)
		for rest := data; len(rest) > 0; {
			k := min(len(rest), 4096)
			if _, err := s.Write(rest[:k]); err != nil {
				t.Fatal(err)
			}
			rest = rest[k:]
		}
		if (s.file != nil) != (n > spoolMemory) {
			t.Errorf("%d bytes: in a file %v", n, s.file != nil)
		}
		w := httptest.NewRecorder()
		if err := s.send(w); err != nil {
			t.Fatal(err)
		}
		s.Close()
		if w.Code != 200 || !bytes.Equal(w.Body.Bytes(), data) || w.Header().Get("Content-Length") != strconv.Itoa(len(data)) {
			t.Errorf("%d bytes: status %d, %d bytes, Content-Length %s", n, w.Code, w.Body.Len(), w.Header().Get("Content-Length"))
		}
	}
}

var qFailsMidway = chsql.New("api.test_fails_midway",
	`SELECT number, throwIf(number = @at) FROM system.numbers LIMIT @n`)

// TestEachFailsMidway: a query that fails after some rows came is an
// error, not the rows it gave.
func TestEachFailsMidway(t *testing.T) {
	// Not recorded for the current-ClickHouse check: ClickHouse's HTTP
	// interface, which the check replays through, answers a failure
	// midway with the rows before it.
	t.Setenv(chsql.RecordEnv, "")
	_, store := stacktest.ClickHouse(t)
	a := newAPI(stacktest.Reader(t, store), Config{})
	var got int
	err := a.each(context.Background(), qFailsMidway, chsql.Args{"at": 200_000, "n": 300_000}, func(scan func(...any) error) error {
		var n uint64
		var x uint8
		got++
		return scan(&n, &x)
	})
	if err == nil || !strings.Contains(err.Error(), "throwIf") {
		t.Errorf("each: %v after %d rows, want the query's error", err, got)
	}
	if got == 0 {
		t.Error("the server failed before sending any row: the test proves less than it means to")
	}
}
