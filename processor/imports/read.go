package imports

import (
	"bytes"
	"encoding/binary"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"footfall/internal/campaigns"
	"footfall/internal/event"
)

// ReadCSV reads an import's CSV as spreadsheets and mail tools export it:
// the recipients, each with its line, and every row that could not be
// read, with its line and why. The header line names an email column
// ("email", "e-mail", "Email Address"...) and optionally external_id;
// the separator is the one that splits the header into the most columns
// of , ; and tab (Excel writes ; where the decimal mark is a comma), or
// the one an Excel "sep=;" first line names. A UTF-8 byte order mark is
// skipped, and UTF-16 with a byte order mark (Excel's "Unicode text") is
// read as text; line ends may be CRLF, LF or CR. A line with a quote error
// is rejected and the lines after it are read on their own, so a quote
// left open never takes the rows after it: also when a quoted field
// running over several lines closes further down, taking in a line that
// reads as a row of its own. A row of empty fields (a spreadsheet's blank
// row) is no recipient and is skipped. Only a file without a usable header
// line is refused whole.
func ReadCSV(body []byte) ([]campaigns.Recipient, []Rejected, error) {
	body, err := utf8Text(body)
	if err != nil {
		return nil, nil, err
	}
	if bytes.IndexByte(body, '\n') < 0 {
		body = bytes.ReplaceAll(body, []byte{'\r'}, []byte{'\n'}) // classic Mac line ends
	}
	f := csvFile{body: body, starts: []int{0}}
	for i, c := range body {
		if c == '\n' && i+1 < len(body) {
			f.starts = append(f.starts, i+1)
		}
	}
	header := 1
	if l := string(f.line(1)); len(l) == 5 && strings.EqualFold(l[:4], "sep=") {
		f.delim, header = rune(l[4]), 2
		if !strings.ContainsRune(",;\t|", f.delim) {
			return nil, nil, fmt.Errorf("csv: line 1 names the separator %q; want , ; tab or |", f.delim)
		}
	}
	if err := f.readHeader(header); err != nil {
		return nil, nil, err
	}
	var out []campaigns.Recipient
	var bad []Rejected
	for next := header + 1; next <= len(f.starts); {
		recs, rej, restart := f.readFrom(next)
		out, bad = append(out, recs...), append(bad, rej...)
		if restart == 0 {
			break
		}
		next = restart
	}
	return out, bad, nil
}

// csvFile is an import's CSV as UTF-8, with where each line starts.
type csvFile struct {
	body          []byte
	starts        []int // starts[n-1] is where line n starts
	delim         rune
	email, extID  int // columns; extID -1 when absent
	headerColumns int
}

// line is line n (from 1), without its end.
func (f *csvFile) line(n int) []byte {
	if n > len(f.starts) {
		return nil
	}
	end := len(f.body)
	if n < len(f.starts) {
		end = f.starts[n]
	}
	return bytes.TrimRight(f.body[f.starts[n-1]:end], "\r\n")
}

// lineAt is the line holding byte offset off.
func (f *csvFile) lineAt(off int) int {
	lo, hi := 0, len(f.starts)
	for lo+1 < hi {
		if mid := (lo + hi) / 2; f.starts[mid] <= off {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo + 1
}

func (f *csvFile) reader(from []byte, delim rune) *csv.Reader {
	rd := csv.NewReader(bytes.NewReader(from))
	rd.Comma = delim
	rd.FieldsPerRecord = -1 // rows may lack trailing columns or have more
	rd.LazyQuotes = false   // a quote error is said, never read as text that runs on
	return rd
}

// headerName is a column's name as matched: lower case, without spaces,
// hyphens and underscores ("E-mail Address" is "emailaddress").
func headerName(h string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' || r == '_' || r == '\u00a0' {
			return -1
		}
		return r
	}, strings.ToLower(strings.TrimSpace(h)))
}

// readHeader finds the separator (unless named) and the columns on line n.
func (f *csvFile) readHeader(n int) error {
	delims := []rune{',', ';', '\t'}
	if f.delim != 0 {
		delims = []rune{f.delim}
	}
	found := false
	for _, d := range delims {
		head, err := f.reader(f.line(n), d).Read()
		if err != nil {
			continue
		}
		email, extID := -1, -1
		for i, h := range head {
			switch headerName(h) {
			case "email", "emailaddress", "mail":
				if email < 0 {
					email = i
				}
			case "externalid":
				if extID < 0 {
					extID = i
				}
			}
		}
		if email >= 0 && (!found || len(head) > f.headerColumns) {
			f.delim, f.email, f.extID, f.headerColumns, found = d, email, extID, len(head), true
		}
	}
	if !found {
		return fmt.Errorf("csv: line %d, the header, must name an email column (columns separated by , ; or tab)", n)
	}
	return nil
}

// readFrom reads the rows from line n on. It stops at the first line it
// rejects for its quotes and says from which line to read again.
func (f *csvFile) readFrom(n int) (out []campaigns.Recipient, bad []Rejected, restart int) {
	base := f.starts[n-1]
	rd := f.reader(f.body[base:], f.delim)
	for {
		rec, err := rd.Read()
		if err == io.EOF {
			return out, bad, 0
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			at := n - 1 + pe.StartLine
			why := fmt.Sprintf("unreadable CSV: %v, column %d", pe.Err, pe.Column)
			if pe.Line > pe.StartLine {
				why = fmt.Sprintf("unreadable CSV: a quoted field opens on this line and is not closed as CSV wants (%v on line %d); the lines after it are read on their own", pe.Err, n-1+pe.Line)
			}
			return out, append(bad, Rejected{Line: at, Reason: why}), at + 1
		}
		if err != nil { // a bytes.Reader fails no other way
			return out, append(bad, Rejected{Line: n, Reason: "unreadable CSV: " + err.Error()}), n + 1
		}
		first, _ := rd.FieldPos(0)
		first += n - 1
		last := f.lineAt(base + int(rd.InputOffset()) - 1)
		if k := f.rowInside(first+1, last); k > 0 {
			why := fmt.Sprintf("unreadable CSV: a quoted field opens on this line and closes only on line %d, taking in line %d, a row of its own: a quote left open? The lines after it are read on their own", last, k)
			return out, append(bad, Rejected{Line: first, Reason: why}), first + 1
		}
		blank := true
		for _, v := range rec {
			if strings.TrimSpace(v) != "" {
				blank = false
				break
			}
		}
		switch {
		case blank:
		case f.email >= len(rec):
			bad = append(bad, Rejected{Line: first, Reason: fmt.Sprintf("no email column on this line: %d columns, the email is column %d", len(rec), f.email+1)})
		default:
			r := campaigns.Recipient{Email: rec[f.email], Line: first}
			if f.extID >= 0 && f.extID < len(rec) {
				r.ExternalID = rec[f.extID]
			}
			out = append(out, r)
		}
	}
}

// rowInside returns the first of lines from..to (inside one record, a
// quoted field running over lines) that reads on its own as a row with an
// address in the email column, or 0. Such a line is a row that a quote
// left open has swallowed, not the next line of a field.
func (f *csvFile) rowInside(from, to int) int {
	for k := from; k <= to; k++ {
		rd := f.reader(f.line(k), f.delim)
		rd.LazyQuotes = true // the line is a fragment: its quotes may not pair
		rec, err := rd.Read()
		if err == nil && f.email < len(rec) && campaigns.CheckEmail(event.NormalizeUser(rec[f.email])) == "" {
			return k
		}
	}
	return 0
}

// utf8Text returns an import's bytes as UTF-8 without a byte order mark:
// UTF-16 with a byte order mark is decoded (an unpaired surrogate becomes
// U+FFFD, which no address holds); UTF-16 without one is refused, since
// it cannot be told from bytes.
func utf8Text(b []byte) ([]byte, error) {
	var order binary.ByteOrder
	switch {
	case bytes.HasPrefix(b, []byte("\xef\xbb\xbf")):
		return b[3:], nil
	case bytes.HasPrefix(b, []byte("\xff\xfe")):
		order = binary.LittleEndian
	case bytes.HasPrefix(b, []byte("\xfe\xff")):
		order = binary.BigEndian
	case len(b) >= 2 && (b[0] == 0) != (b[1] == 0):
		return nil, errors.New("csv: the file looks like UTF-16 without a byte order mark; save it as CSV UTF-8")
	default:
		return b, nil
	}
	b = b[2:]
	if len(b)%2 != 0 {
		return nil, errors.New("csv: UTF-16 text of an odd number of bytes; save it as CSV UTF-8")
	}
	units := make([]uint16, len(b)/2)
	for i := range units {
		units[i] = order.Uint16(b[2*i:])
	}
	out := make([]byte, 0, len(b))
	for _, r := range utf16.Decode(units) {
		out = utf8.AppendRune(out, r)
	}
	return out, nil
}

// ReadJSON reads an import's JSON body, {"recipients": [{"email",
// "external_id"}], "consent_wording"}: the recipients, each with its place
// in the list, and the rows whose address or id holds bytes that are not
// UTF-8 (which a JSON decoder would turn into U+FFFD unsaid). A body that
// is no such JSON is refused whole.
func ReadJSON(body []byte) (in []campaigns.Recipient, consentWording string, bad []Rejected, err error) {
	var doc struct {
		Recipients []struct {
			Email      json.RawMessage `json:"email"`
			ExternalID json.RawMessage `json:"external_id"`
			Token      json.RawMessage `json:"token"` // a list exported with its tokens: each import makes its own
		} `json:"recipients"`
		ConsentWording string `json:"consent_wording"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return nil, "", nil, err
	}
	str := func(raw json.RawMessage) (string, error) {
		var s string
		if len(raw) == 0 || string(raw) == "null" {
			return "", nil
		}
		return s, json.Unmarshal(raw, &s)
	}
	for i, r := range doc.Recipients {
		line := i + 1
		email, err := str(r.Email)
		if err != nil {
			return nil, "", nil, fmt.Errorf("recipient %d: email: %w", line, err)
		}
		id, err := str(r.ExternalID)
		if err != nil {
			return nil, "", nil, fmt.Errorf("recipient %d: external_id: %w", line, err)
		}
		switch {
		case !utf8.Valid(r.Email):
			bad = append(bad, Rejected{Line: line, Email: email, Reason: notText("address", string(r.Email))})
		case !utf8.Valid(r.ExternalID):
			bad = append(bad, Rejected{Line: line, Email: email, Reason: notText("external_id", string(r.ExternalID))})
		default:
			in = append(in, campaigns.Recipient{Email: email, ExternalID: id, Line: line})
		}
	}
	return in, doc.ConsentWording, bad, nil
}

// notText is the reason a value with bytes that are not UTF-8 text, or a
// NUL, is refused.
func notText(what, v string) string {
	return fmt.Sprintf("the %s %q holds bytes that are not UTF-8 text, or a NUL: refused, not cleaned (save the file as UTF-8)", what, v)
}

// checkRecipient returns r's normalised address, or why r is refused: an
// address or external id with bytes that are not UTF-8 or a NUL (as the
// collector refuses such a user id: cleaned, two addresses would become
// one), an address holding U+FFFD (the mark of such a byte, decoded), or
// one that is no e-mail address. Addresses are normalised as every user
// id is (event.NormalizeUser), so a recipient and the same person signing
// in on the site are one.
func checkRecipient(r campaigns.Recipient) (string, string) {
	switch {
	case !event.Clean([]byte(r.Email)):
		return "", notText("address", r.Email)
	case !event.Clean([]byte(r.ExternalID)):
		return "", notText("external_id", r.ExternalID)
	case strings.ContainsRune(r.Email, utf8.RuneError):
		return "", fmt.Sprintf("the address %q holds U+FFFD, the mark of a byte that was not UTF-8 text: refused, not cleaned", r.Email)
	}
	email := event.NormalizeUser(r.Email)
	return email, campaigns.CheckEmail(email)
}
