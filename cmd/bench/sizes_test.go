package main

import (
	"slices"
	"testing"
)

func TestParseSizes(t *testing.T) {
	got, err := parseSizes("10000000, 100000000")
	if err != nil || !slices.Equal(got, []int{10_000_000, 100_000_000}) {
		t.Fatalf("parseSizes = %v, %v; want [10000000 100000000]", got, err)
	}
	// A size that does not grow would time the reports on the same data
	// twice and call it growth; the rest are not counts.
	for _, bad := range []string{"", "10M", "1000000,1000000", "10000000,1000000", "-5", "999"} {
		if got, err := parseSizes(bad); err == nil {
			t.Errorf("parseSizes(%q) = %v, want an error", bad, got)
		}
	}
}
