// Package csvexport writes the CSV files Footfall hands out (report,
// segment, consent ledger and recipient exports): encoding/csv's format
// (RFC 4180), with every cell a spreadsheet would run as a formula made
// inert, as OWASP's "CSV Injection" page recommends: a cell that begins
// with =, +, -, @, a tab or a carriage return is prefixed with a single
// quote, which spreadsheets show as text. A cell that is a plain number
// (-12.50, +3) is left as it is: no spreadsheet runs it, and an amount
// must stay an amount.
package csvexport

import (
	"encoding/csv"
	"io"
	"regexp"
)

// Writer is a csv.Writer whose Write and WriteAll neutralise formula cells
// (Cell). Flush and Error are csv.Writer's.
type Writer struct {
	*csv.Writer
	row []string
}

// NewWriter writes CSV to w.
func NewWriter(w io.Writer) *Writer { return &Writer{Writer: csv.NewWriter(w)} }

// Write writes one record, each cell through Cell; record is not changed.
func (w *Writer) Write(record []string) error {
	w.row = w.row[:0]
	for _, c := range record {
		w.row = append(w.row, Cell(c))
	}
	return w.Writer.Write(w.row)
}

// WriteAll writes records through Write and flushes.
func (w *Writer) WriteAll(records [][]string) error {
	for _, r := range records {
		if err := w.Write(r); err != nil {
			return err
		}
	}
	w.Flush()
	return w.Error()
}

// plainNumber is a decimal number with a sign, as spreadsheets read one
// (not Inf or NaN, which they read as names).
var plainNumber = regexp.MustCompile(`^[+-](\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$`)

// Cell is s as a spreadsheet must read it: s prefixed with a single quote
// when it begins with a character that starts a formula (= + - @, tab,
// carriage return) and is not a plain number.
func Cell(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		if plainNumber.MatchString(s) {
			return s
		}
		return "'" + s
	}
	return s
}
