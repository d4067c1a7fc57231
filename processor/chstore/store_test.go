package chstore

import (
	"slices"
	"testing"

	chcolumn "github.com/ClickHouse/clickhouse-go/v2/lib/column"
)

// Insert hands clickhouse-go its String columns ready-made; this fails when
// a clickhouse-go upgrade moves the field it writes them into.
func TestStringColumn(t *testing.T) {
	col, err := chcolumn.Type("String").Column("url", nil)
	if err != nil {
		t.Fatal(err)
	}
	dst, err := stringColumn(col)
	if err != nil {
		t.Fatal(err)
	}
	dst.Append("https://shop.example/a")
	dst.Append("")
	dst.Append("b")
	if col.Rows() != 3 {
		t.Fatalf("clickhouse-go sees %d rows, want 3", col.Rows())
	}
	for i, want := range []string{"https://shop.example/a", "", "b"} {
		if got := col.Row(i, false); got != want {
			t.Errorf("row %d: clickhouse-go reads %q, want %q", i, got, want)
		}
	}
	notString, err := chcolumn.Type("UInt8").Column("is_bot", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stringColumn(notString); err == nil {
		t.Error("a UInt8 column was taken for a String one")
	}
}

func TestStringArrayColumn(t *testing.T) {
	col, err := chcolumn.Type("Array(String)").Column("prop_keys", nil)
	if err != nil {
		t.Fatal(err)
	}
	offsets, values, err := stringArrayColumn(col)
	if err != nil {
		t.Fatal(err)
	}
	// Three rows: [sku, size], [], [colour].
	for _, v := range []string{"sku", "size", "colour"} {
		values.Append(v)
	}
	*offsets = append(*offsets, 2, 2, 3)
	if col.Rows() != 3 {
		t.Fatalf("clickhouse-go sees %d rows, want 3", col.Rows())
	}
	for i, want := range [][]string{{"sku", "size"}, {}, {"colour"}} {
		if got := col.Row(i, false); !slices.Equal(got.([]string), want) {
			t.Errorf("row %d: clickhouse-go reads %q, want %q", i, got, want)
		}
	}
	for _, typ := range []string{"String", "Array(UInt8)", "Array(Array(String))"} {
		other, err := chcolumn.Type(typ).Column("other", nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := stringArrayColumn(other); err == nil {
			t.Errorf("a %s column was taken for an Array(String) one", typ)
		}
	}
}
