package main

import (
	"net"
	"os"
	"slices"
	"testing"
)

// TestServerOf: the process charged for a server is the one listening on
// the address the bench uses, not every process of that name (a second
// ClickHouse of other work was counted as the pipeline's).
func TestServerOf(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if got := serverOf(addr, "no-such-program-xyz"); !slices.Equal(got, []int{os.Getpid()}) {
		t.Fatalf("serverOf(%s) = %v, want this test's pid %d", addr, got, os.Getpid())
	}
	ln.Close()
	// Nothing listens there now: the name decides, and no process has it.
	if got := serverOf(addr, "no-such-program-xyz"); len(got) != 0 {
		t.Fatalf("serverOf(%s) after close = %v, want none", addr, got)
	}
}
