package chsql

import "testing"

// A statement marked as counting stored rows keeps the mark through With
// (the erasure fills its table and condition there), and cannot be marked
// without a reason.
func TestDependsOnServerState(t *testing.T) {
	q := New("chsql.test_stored_rows", `SELECT count() FROM {{table}}`).DependsOnServerState("versions before a merge")
	filled := q.With(map[string]string{"table": "people"})
	if filled.ServerState() != "versions before a merge" {
		t.Fatalf("With lost the mark: %q", filled.ServerState())
	}
	if New("chsql.test_not_stored", `SELECT 1`).ServerState() != "" {
		t.Fatal("an unmarked statement reads as counting stored rows")
	}
	defer func() {
		if recover() == nil {
			t.Fatal("DependsOnServerState took an empty reason")
		}
	}()
	New("chsql.test_stored_no_reason", `SELECT 1`).DependsOnServerState(" ")
}
