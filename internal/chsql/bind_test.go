package chsql

import (
	"strings"
	"testing"
	"time"
)

func TestBind(t *testing.T) {
	at := time.Date(2026, 11, 30, 23, 30, 0, 0, time.UTC)
	cases := []struct {
		sql  string
		args Args
		want string
	}{
		{"SELECT 1 WHERE site_id = @site AND time >= @from", Args{"site": "o'k\\", "from": at},
			`SELECT 1 WHERE site_id = 'o\'k\\' AND time >= toDateTime(1796081400)`},
		{"SELECT '@site', `@x`, \"@y\" -- @z\n, @n", Args{"n": -3},
			"SELECT '@site', `@x`, \"@y\" -- @z\n, (-3)"},
		{"SELECT x IN @ids, @arr, @d, @f", Args{"ids": Set[string]{"a", "b"}, "arr": []string{"c"}, "d": Date(at), "f": 0.5},
			"SELECT x IN ('a', 'b'), ['c'], toDate('2026-11-30'), 0.5"},
		{"SELECT 'it''s @a', @a", Args{"a": uint8(1)}, "SELECT 'it''s @a', 1"},
	}
	for _, c := range cases {
		got, err := Bind(c.sql, c.args)
		if err != nil || got != c.want {
			t.Errorf("Bind(%q) = %q, %v; want %q", c.sql, got, err, c.want)
		}
	}
	for _, bad := range []struct {
		sql  string
		args Args
		msg  string
	}{
		{"SELECT @a", Args{}, "no value for parameter @a"},
		{"SELECT 1", Args{"a": 1}, "parameter a is not in the statement"},
		{"SELECT 1 IN @s", Args{"s": Set[string]{}}, "empty set"},
		{"SELECT @t", Args{"t": time.Unix(-5, 0)}, "outside DateTime"},
	} {
		if _, err := Bind(bad.sql, bad.args); err == nil || !strings.Contains(err.Error(), bad.msg) {
			t.Errorf("Bind(%q) error %v, want %q", bad.sql, err, bad.msg)
		}
	}
}

func TestWith(t *testing.T) {
	q := New("chsql.test_with", "SELECT {{dim}} FROM events WHERE site_id = @site{{where}}")
	got := q.With(map[string]string{"dim": "browser", "where": " AND os = @os"})
	if got.Name() != q.Name() || got.SQL() != "SELECT browser FROM events WHERE site_id = @site AND os = @os" {
		t.Fatalf("With: %s %q", got.Name(), got.SQL())
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("With without a slot's part did not panic")
			}
		}()
		q.With(map[string]string{"dim": "x"})
	}()
}
