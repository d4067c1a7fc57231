package imports

import (
	"bytes"
	"encoding/binary"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"footfall/internal/campaigns"
	"footfall/internal/event"
)

// ReadCSV reads an import's CSV as spreadsheets and mail tools export it:
// the recipients, each with its line, and every row that could not be
// read, with its line and why. The header line names an email column
// ("email", "e-mail", "Email Address"...) and optionally external_id;
// header names are matched whatever their case, accents, spaces and
// punctuation, in the languages spreadsheets are kept in ("E-Mail-Adresse",
// "Courriel", "Correo electrónico"...; emailHeaders), and a header naming
// the email or external_id column twice is refused (which column holds the
// address cannot be told); other columns (names...) are ignored. The
// separator is the one that splits the header into the most columns
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

// headerName is a column's name as matched: lower case, without accents,
// spaces and punctuation ("E-Mail-Adresse" is "emailadresse", "Correo
// electrónico" is "correoelectronico").
func headerName(h string) string {
	var sb strings.Builder
	for _, r := range norm.NFD.String(strings.ToLower(strings.TrimSpace(h))) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			sb.WriteRune(r)
		}
	}
	return sb.String()
}

// emailHeaders are the names of an email column (as headerName gives
// them), as spreadsheets and mail tools in several languages write them.
var emailHeaders = map[string]bool{
	"email": true, "emailaddress": true, "mail": true, "mailaddress": true, "emails": true,
	"emailadresse": true, "mailadresse": true, // German, Danish, Norwegian
	"courriel": true, "adresseemail": true, "adressemail": true, "adressecourriel": true, "adresseelectronique": true, // French
	"correo": true, "correoelectronico": true, "direcciondecorreo": true, "direcciondecorreoelectronico": true, "direccionemail": true, "direcciondeemail": true, // Spanish
	"indirizzoemail": true, "indirizzomail": true, "postaelettronica": true, "indirizzodipostaelettronica": true, // Italian
	"emailadres": true, "mailadres": true, // Dutch
	"enderecodeemail": true, "enderecoemail": true, "correioeletronico": true, // Portuguese
	"epost": true, "epostadress": true, "epostadresse": true, // Swedish, Norwegian
	"adresemail": true, "eposta": true, "epostaadresi": true, "sahkoposti": true, "sahkopostiosoite": true, // Polish, Turkish, Finnish
}

// externalIDHeaders are the names of an external id column.
var externalIDHeaders = map[string]bool{"externalid": true}

// expectedHeader is what a refused header is told to name.
const expectedHeader = `an email column: "email" (or "E-mail", "Email Address", "E-Mail-Adresse", "Courriel", "Adresse e-mail", "Correo electrónico", "Indirizzo email", "E-mailadres"...; case, accents, spaces and punctuation do not matter), and optionally "external_id"`

// header is the columns a header line names with one separator.
type header struct {
	delim        rune
	columns      []string
	email, extID int    // -1 when absent
	clash        string // two columns naming the same thing, said
}

// readHeader finds the separator (unless named) and the columns on line n.
// A header naming the email (or external_id) column twice is refused: which
// of the two holds the address cannot be told.
func (f *csvFile) readHeader(n int) error {
	delims := []rune{',', ';', '\t'}
	if f.delim != 0 {
		delims = []rune{f.delim}
	}
	var best, widest *header
	for _, d := range delims {
		head, err := f.reader(f.line(n), d).Read()
		if err != nil {
			continue
		}
		h := &header{delim: d, columns: head, email: -1, extID: -1}
		for i, name := range head {
			k := headerName(name)
			for _, col := range []struct {
				what  string
				at    *int
				names map[string]bool
			}{{"email", &h.email, emailHeaders}, {"external_id", &h.extID, externalIDHeaders}} {
				if !col.names[k] {
					continue
				}
				if *col.at >= 0 && h.clash == "" {
					h.clash = fmt.Sprintf("columns %d (%q) and %d (%q) both name the %s column; keep one", *col.at+1, head[*col.at], i+1, name, col.what)
				}
				if *col.at < 0 {
					*col.at = i
				}
			}
		}
		if widest == nil || len(head) > len(widest.columns) {
			widest = h
		}
		if h.email >= 0 && (best == nil || len(head) > len(best.columns)) {
			best = h
		}
	}
	switch {
	case best == nil && widest == nil:
		return fmt.Errorf("csv: line %d, the header, is unreadable; it must name %s", n, expectedHeader)
	case best == nil:
		quoted := make([]string, len(widest.columns))
		for i, c := range widest.columns {
			quoted[i] = strconv.Quote(c)
		}
		return fmt.Errorf("csv: line %d, the header, names no email column: found %s (separated by %q); want %s", n, strings.Join(quoted, ", "), widest.delim, expectedHeader)
	case best.clash != "":
		return fmt.Errorf("csv: line %d, the header: %s", n, best.clash)
	}
	f.delim, f.email, f.extID, f.headerColumns = best.delim, best.email, best.extID, len(best.columns)
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
// in the list (from 1), and every recipient that could not be read, with
// its place and why, as ReadCSV does with a file's rows: a recipient that
// is no object, an email that is no string, an external_id that is no
// string or number (a number is kept as written), a key naming the email
// or external_id twice, an address or id holding bytes that are not UTF-8
// (which a JSON decoder would turn into U+FFFD unsaid). Keys are matched
// as CSV header names are (headerName: "Email", "E-mail", "Courriel"...);
// other keys (name, first_name, an exported list's token) are ignored, as
// a CSV's other columns are. Only a body that is no such JSON, or has
// keys of its own besides recipients and consent_wording, is refused whole.
func ReadJSON(body []byte) (in []campaigns.Recipient, consentWording string, bad []Rejected, err error) {
	var doc struct {
		Recipients     []json.RawMessage `json:"recipients"`
		ConsentWording string            `json:"consent_wording"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return nil, "", nil, fmt.Errorf("json: want {\"recipients\": [{\"email\": ..., \"external_id\": ...}], \"consent_wording\": ...}: %w", err)
	}
	for i, raw := range doc.Recipients {
		r, why := readRecipient(raw)
		r.Line = i + 1
		if why != "" {
			bad = append(bad, Rejected{Line: r.Line, Email: r.Email, Reason: why})
			continue
		}
		in = append(in, r)
	}
	return in, doc.ConsentWording, bad, nil
}

// readRecipient reads one recipient of a JSON import, or says why not.
func readRecipient(raw json.RawMessage) (campaigns.Recipient, string) {
	var r campaigns.Recipient
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if t, _ := dec.Token(); t != json.Delim('{') {
		return r, fmt.Sprintf("a recipient is an object such as {\"email\": \"ann@example.com\"}, not %s", jsonKind(raw))
	}
	seen := map[string]string{} // what a key names, the key that named it
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return r, "unreadable JSON: " + err.Error()
		}
		key, _ := t.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return r, "unreadable JSON: " + err.Error()
		}
		what := ""
		switch k := headerName(key); {
		case emailHeaders[k]:
			what = "email"
		case externalIDHeaders[k]:
			what = "external_id"
		default:
			continue // a name, a token...: ignored, as a CSV's other columns
		}
		if first, ok := seen[what]; ok {
			return r, fmt.Sprintf("the keys %q and %q both name the %s; keep one", first, key, what)
		}
		seen[what] = key
		if !utf8.Valid(v) {
			label := what
			if what == "email" {
				label = "address"
			}
			return r, notText(label, string(v))
		}
		var s string
		switch {
		case string(v) == "null":
		case v[0] == '"':
			if err := json.Unmarshal(v, &s); err != nil {
				return r, "unreadable JSON: " + err.Error()
			}
		case what == "external_id" && (v[0] == '-' || v[0] >= '0' && v[0] <= '9'):
			s = string(v) // a number as written: 12345678901234567890 stays itself
		default:
			return r, fmt.Sprintf("%s %q is %s, not a string", key, v, jsonKind(v))
		}
		if what == "email" {
			r.Email = s
		} else {
			r.ExternalID = s
		}
	}
	return r, ""
}

// jsonKind names the kind of the JSON value v.
func jsonKind(v json.RawMessage) string {
	v = bytes.TrimSpace(v)
	switch {
	case len(v) == 0:
		return "empty"
	case v[0] == '"':
		return "a string"
	case v[0] == '[':
		return "a list"
	case v[0] == '{':
		return "an object"
	case string(v) == "null":
		return "null"
	case string(v) == "true" || string(v) == "false":
		return "a boolean"
	}
	return "a number"
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
