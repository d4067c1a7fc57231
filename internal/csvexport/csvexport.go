// Package csvexport writes the CSV files Footfall hands out (report,
// segment, consent ledger and recipient exports): encoding/csv's format
// (RFC 4180), with every cell a spreadsheet would run as a formula made
// inert, as OWASP's "CSV Injection" page recommends: a cell that begins
// with =, +, -, @, a tab or a carriage return is prefixed with a single
// quote, which spreadsheets show as text. A cell that is a plain number
// (-12.50, +3) is left as it is: no spreadsheet runs it, and an amount
// must stay an amount.
//
// ExcelFR is the dialect French Excel opens by a double click: cells
// separated by ';', decimal numbers with a decimal comma (12,5), and a
// UTF-8 byte order mark first, without which Excel reads the bytes as
// Windows-1252 (é as Ã©).
package csvexport

import (
	"encoding/csv"
	"io"
	"regexp"
	"strings"
)

// Dialect is how a file separates its cells and writes its numbers.
type Dialect int

const (
	// RFC4180: ',' between cells, '.' in numbers, no byte order mark.
	RFC4180 Dialect = iota
	// ExcelFR: ';' between cells, ',' in decimal numbers, a UTF-8 byte
	// order mark first.
	ExcelFR
)

// ParseDialect reads a dialect's name as a query parameter gives it:
// "" or "rfc4180", or "excel-fr"; false for any other.
func ParseDialect(name string) (Dialect, bool) {
	switch name {
	case "", "rfc4180":
		return RFC4180, true
	case "excel-fr":
		return ExcelFR, true
	}
	return RFC4180, false
}

// Writer is a csv.Writer whose Write and WriteAll neutralise formula cells
// (Cell) and write the dialect's numbers. Flush and Error are csv.Writer's.
type Writer struct {
	*csv.Writer
	dialect Dialect
	out     io.Writer
	started bool
	row     []string
}

// NewWriter writes CSV (RFC 4180) to w.
func NewWriter(w io.Writer) *Writer { return NewDialectWriter(w, RFC4180) }

// NewDialectWriter writes CSV of dialect d to w.
func NewDialectWriter(w io.Writer, d Dialect) *Writer {
	cw := csv.NewWriter(w)
	if d == ExcelFR {
		cw.Comma = ';'
		cw.UseCRLF = true
	}
	return &Writer{Writer: cw, dialect: d, out: w}
}

// bom is UTF-8's byte order mark.
const bom = "\uFEFF"

// decimal is a number with a fractional part, as csvValue and
// strconv.FormatFloat write one: the cells whose point ExcelFR makes a
// comma (a cell of text such as "v1.2" or "1.2.3" is left alone).
var decimal = regexp.MustCompile(`^[+-]?\d+\.\d+$`)

// Write writes one record, each cell through Cell; record is not changed.
func (w *Writer) Write(record []string) error {
	if !w.started {
		w.started = true
		if w.dialect == ExcelFR {
			if _, err := io.WriteString(w.out, bom); err != nil {
				return err
			}
		}
	}
	w.row = w.row[:0]
	for _, c := range record {
		c = Cell(c)
		if w.dialect == ExcelFR && decimal.MatchString(c) {
			c = strings.Replace(c, ".", ",", 1)
		}
		w.row = append(w.row, c)
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
