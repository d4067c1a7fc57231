package csvexport

import (
	"bytes"
	"encoding/csv"
	"testing"
)

func TestCell(t *testing.T) {
	cases := map[string]string{
		`=HYPERLINK("http://evil.example","x")`: `'=HYPERLINK("http://evil.example","x")`,
		"+cmd|' /C calc'!A0":                    "'+cmd|' /C calc'!A0",
		"-2+3":                                  "'-2+3",
		"@SUM(A1:A2)":                           "'@SUM(A1:A2)",
		"\t=1+1":                                "'\t=1+1",
		"\r=1+1":                                "'\r=1+1",
		"+33 6 12 34 56 78":                     "'+33 6 12 34 56 78",
		"-12.50":                                "-12.50",
		"+3":                                    "+3",
		"-1e3":                                  "-1e3",
		"-Inf":                                  "'-Inf", // ParseFloat reads it, a spreadsheet reads a name
		"google":                                "google",
		"a=b":                                   "a=b",
		"":                                      "",
		"'=already":                             "'=already",
	}
	for in, want := range cases {
		if got := Cell(in); got != want {
			t.Errorf("Cell(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestWriterRoundTrip: what the writer makes reads back (encoding/csv)
// as the neutralised cells, quotes and separators inside cells included.
func TestWriterRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	rec := []string{`=HYPERLINK("http://evil.example","x")`, "a,b", "-5", "line\nbreak"}
	if err := w.WriteAll([][]string{{"k", "v", "n", "t"}, rec}); err != nil {
		t.Fatal(err)
	}
	if rec[0][0] != '=' {
		t.Error("Write changed its argument")
	}
	got, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`'=HYPERLINK("http://evil.example","x")`, "a,b", "-5", "line\nbreak"}
	for i := range want {
		if got[1][i] != want[i] {
			t.Errorf("cell %d read back %q, want %q", i, got[1][i], want[i])
		}
	}
}

// TestExcelFR: the bytes of a French Excel file: the byte order mark,
// ';' between cells, decimal commas in numbers only, a ';' inside a
// cell quoted, formulas still neutralised, CRLF line ends.
func TestExcelFR(t *testing.T) {
	var buf bytes.Buffer
	w := NewDialectWriter(&buf, ExcelFR)
	err := w.WriteAll([][]string{
		{"page", "visitors", "revenue EUR", "bounce_rate"},
		{"/café", "1069", "1069.3", "0.3333"},
		{"a;b", "-12.5", "=1.5+1", "v1.2"},
		{"1,5", "1.2.3", "", "+3"},
	})
	if err != nil {
		t.Fatal(err)
	}
	const want = "\uFEFFpage;visitors;revenue EUR;bounce_rate\r\n" +
		"/café;1069;1069,3;0,3333\r\n" +
		"\"a;b\";-12,5;'=1.5+1;v1.2\r\n" +
		"1,5;1.2.3;;+3\r\n"
	if got := buf.String(); got != want {
		t.Errorf("bytes\n%q\nwant\n%q", got, want)
	}
	if _, ok := ParseDialect("excel-fr"); !ok {
		t.Error("excel-fr is no dialect")
	}
	if _, ok := ParseDialect("excel"); ok {
		t.Error("excel is a dialect")
	}
	buf.Reset()
	NewWriter(&buf).WriteAll([][]string{{"a", "1.5"}})
	if buf.String() != "a,1.5\n" {
		t.Errorf("RFC 4180 %q", buf.String())
	}
}
