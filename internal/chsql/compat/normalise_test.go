//go:build compat

package compat

import (
	"testing"

	"footfall/internal/chsql"
)

// TestNormalise: answers are compared as multisets of rows, floats to 12
// significant digits (the engines print the last digits differently),
// zero dates alike; text inside strings is compared as sent.
func TestNormalise(t *testing.T) {
	same := [][2]string{
		{"a\t0.30000000000000004\n", "a\t0.3\n"},
		{"x\t1\ny\t2\n", "y\t2\nx\t1\n"},
		{"0000-00-00 00:00:00\t0000-00-00\n", "1970-01-01 00:00:00\t1970-01-01\n"},
		{"[0.1,2.0000000000000004]\n", "[0.1,2]\n"},
		{"(1.00000000000001,'a')\n", "(1,'a')\n"},
		{"1e-7\n", "1.0000000000000001e-07\n"},
	}
	for _, c := range same {
		if a, b := normalise(c[0]), normalise(c[1]); a != b {
			t.Errorf("%q and %q normalise to %q and %q, want the same", c[0], c[1], a, b)
		}
	}
	differ := [][2]string{
		{"/v1.50000000000001\n", "/v1.5\n"},              // a page, not a number
		{"/p\t1.5\n", "/p\t1.6\n"},                       // numbers beyond rounding
		{"['1.00000000000001']\n", "['1']\n"},            // a string in an array
		{"['a,1.00000000000001']\n", "['a,1']\n"},        // a comma inside a string
		{"x\t1\nx\t1\n", "x\t1\n"},                       // a multiset, not a set
		{"blog1\t2\t50000000\n", "blog1\t1\t20000000\n"}, // the ANY INNER JOIN answers
		{"/caf\\xC3\\xA9\t3\n", "/café\t3\n"},            // bytes as sent
	}
	for _, c := range differ {
		if a, b := normalise(c[0]), normalise(c[1]); a == b {
			t.Errorf("%q and %q both normalise to %q, want them told apart", c[0], c[1], a)
		}
	}
}

// TestSameError: both engines must fail with the same code; the only pair
// taken as one is ADD COLUMN finding its column (44 on 18.16, 15 now).
func TestSameError(t *testing.T) {
	// As recorded: both failed when their test sent them.
	add := chsql.Statement{SQL: "ALTER TABLE t ADD COLUMN c UInt8", Code: -1}
	sel := chsql.Statement{SQL: "SELECT x FROM t", Code: -1}
	ran := chsql.Statement{SQL: "SELECT x FROM t"} // ran without an error in its test
	cases := []struct {
		st   chsql.Statement
		a, b int
		want bool
	}{
		{sel, 0, 0, true},
		{sel, 47, 47, true},
		{sel, 47, 0, false},
		{sel, 0, 206, false},
		{sel, 47, 60, false},
		{add, 44, 15, false}, // 18.16's 44 without its message is another fault
		{ran, 47, 47, false},
		{ran, 0, 0, true},
		{add, 44, 16, false},
		{sel, 44, 15, false},
	}
	for _, c := range cases {
		if got := sameError(c.st, answer{Code: c.a}, answer{Code: c.b}); got != c.want {
			t.Errorf("%q: codes %d and %d same = %v, want %v", c.st.SQL, c.a, c.b, got, c.want)
		}
	}
}
