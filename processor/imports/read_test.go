package imports

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf16"

	"footfall/internal/campaigns"
)

// rows says what ReadCSV made of a file: "line:email" for each recipient
// (with "/external_id" when there is one), "line!" for each rejected row.
func rows(t *testing.T, body string) (string, []Rejected) {
	t.Helper()
	in, bad, err := ReadCSV([]byte(body))
	if err != nil {
		t.Fatalf("%q: %v", body, err)
	}
	var out []string
	for _, r := range in {
		s := fmt.Sprintf("%d:%s", r.Line, r.Email)
		if r.ExternalID != "" {
			s += "/" + r.ExternalID
		}
		out = append(out, s)
	}
	for _, b := range bad {
		if b.Reason == "" {
			t.Errorf("line %d rejected without a reason", b.Line)
		}
		out = append(out, fmt.Sprintf("%d!", b.Line))
	}
	return strings.Join(out, " "), bad
}

// TestReadCSVQuotes: a quote left open, or misplaced, rejects its own line
// with the reason and never the rows after it; every other row is read,
// also when an open quote closes lines further down (the rows it would
// have swallowed read as rows of their own). A field running over lines,
// as CSV allows, is read as one.
func TestReadCSVQuotes(t *testing.T) {
	cases := []struct{ name, body, want string }{
		{"unclosed to the end",
			"email,external_id\na@x.example,1\n\"b@x.example,2\nc@x.example,3\nd@x.example,4\n",
			"2:a@x.example/1 4:c@x.example/3 5:d@x.example/4 3!"},
		{"unclosed, in the second column",
			"email,name\na@x.example,\"Ann\nb@x.example,Bob\nc@x.example,Cy\n",
			"3:b@x.example 4:c@x.example 2!"},
		{"closed lines further down",
			"email,name\na@x.example,\"Ann\nb@x.example,Bob\nc@x.example,Cy\"\nd@x.example,Dee\n",
			"3:b@x.example 5:d@x.example 2! 4!"},
		{"closed on the next line",
			"name,email\n\"Ann,a@x.example\nBob\",b@x.example\nCy,c@x.example\n",
			"4:c@x.example 2! 3!"},
		{"bare quote",
			"email,name\na@x.example,Ann \"the\" first\nb@x.example,Bob\n",
			"3:b@x.example 2!"},
		{"quote after a quoted field",
			"email,name\n\"a@x.example\"x,Ann\nb@x.example,Bob\n",
			"3:b@x.example 2!"},
		{"field over two lines, as CSV allows",
			"email,address,external_id\na@x.example,\"1 Main St\nApt 4\",7\nb@x.example,\"2, Rue \"\"X\"\"\",8\n",
			"2:a@x.example/7 4:b@x.example/8"},
		{"quotes everywhere, CRLF",
			"\"email\",\"external_id\"\r\n\"a@x.example\",\"1\"\r\n\"b@x.example\",\"2\"\r\n",
			"2:a@x.example/1 3:b@x.example/2"},
		{"many open quotes",
			"email\n\"a@x.example\n\"b@x.example\n\"c@x.example\nd@x.example\n",
			"5:d@x.example 2! 3! 4!"},
	}
	for _, c := range cases {
		got, bad := rows(t, c.body)
		if got != c.want {
			t.Errorf("%s: %s, want %s (%+v)", c.name, got, c.want, bad)
		}
	}
	_, bad := rows(t, "email,external_id\na@x.example,1\n\"b@x.example,2\nc@x.example,3\n")
	if len(bad) != 1 || !strings.Contains(bad[0].Reason, "quote") || !strings.Contains(bad[0].Reason, "read on their own") {
		t.Errorf("reason: %+v", bad)
	}
	_, bad = rows(t, "email,name\na@x.example,\"Ann\nb@x.example,Bob\nc@x.example,Cy\"\n")
	if len(bad) != 2 || !strings.Contains(bad[0].Reason, "closes only on line 4, taking in line 3") {
		t.Errorf("reason: %+v", bad)
	}
}

// TestReadCSVExports: files as spreadsheets and mail tools write them: a
// separator of , ; or tab found from the header (or named by Excel's
// sep= line), a byte order mark, CRLF or CR line ends, UTF-16 with a byte
// order mark, header names as tools spell them, blank rows, short rows.
func TestReadCSVExports(t *testing.T) {
	utf16le := func(s string) string {
		b := []byte{0xff, 0xfe}
		for _, u := range utf16.Encode([]rune(s)) {
			b = append(b, byte(u), byte(u>>8))
		}
		return string(b)
	}
	utf16be := func(s string) string {
		b := []byte{0xfe, 0xff}
		for _, u := range utf16.Encode([]rune(s)) {
			b = append(b, byte(u>>8), byte(u))
		}
		return string(b)
	}
	const want = "2:a@x.example/1 3:b@x.example/2"
	cases := []struct{ name, body, want string }{
		{"comma", "email,external_id\na@x.example,1\nb@x.example,2\n", want},
		{"semicolon (Excel, France)", "email;external_id\na@x.example;1\nb@x.example;2\n", want},
		{"semicolon, commas in fields", "Nom;email;external_id\n\"Dupont, Ann\";a@x.example;1\nBob;b@x.example;2\n", want},
		{"semicolon, quoted", "\"E-Mail\";\"External ID\"\r\n\"a@x.example\";\"1\"\r\n\"b@x.example\";\"2\"\r\n", want},
		{"tab", "email\texternal_id\na@x.example\t1\nb@x.example\t2\n", want},
		{"UTF-8 BOM, CRLF", "\ufeffemail;external_id\r\na@x.example;1\r\nb@x.example;2\r\n", want},
		{"CR line ends (old Mac Excel)", "email;external_id\ra@x.example;1\rb@x.example;2\r", want},
		{"Excel's sep= line", "sep=;\nemail;external_id\na@x.example;1\nb@x.example;2\n", "3:a@x.example/1 4:b@x.example/2"},
		{"sep= tab", "sep=\t\nemail\texternal_id\na@x.example\t1\n", "3:a@x.example/1"},
		{"UTF-16LE (Excel's Unicode text)", utf16le("email\texternal_id\r\na@x.example\t1\r\nb@x.example\t2\r\n"), want},
		{"UTF-16BE", utf16be("email,external_id\na@x.example,1\nb@x.example,2\n"), want},
		{"Mailchimp's header", "Email Address,First Name,external_id\na@x.example,Ann,1\nb@x.example,Bob,2\n", want},
		{"one column", "email\na@x.example\nb@x.example\n", "2:a@x.example 3:b@x.example"},
		{"blank rows, short rows", "email;name;external_id\na@x.example;Ann;1\n;;\n\n  ;  ;\nb@x.example;;2\nc@x.example\n", "2:a@x.example/1 6:b@x.example/2 7:c@x.example"},
		{"no email column on a row", "name;email\nAnn;a@x.example\nBob\n", "2:a@x.example 3!"},
		{"no final line end", "email\na@x.example", "2:a@x.example"},
	}
	for _, c := range cases {
		if got, bad := rows(t, c.body); got != c.want {
			t.Errorf("%s: %s, want %s (%+v)", c.name, got, c.want, bad)
		}
	}
	for name, body := range map[string]string{
		"no email column":     "name,phone\nAnn,1\n",
		"UTF-16 without BOM":  "e\x00m\x00a\x00i\x00l\x00\n\x00",
		"UTF-16 of odd bytes": "\xff\xfee\x00m\x00a\x00i\x00l\x00\n",
		"empty":               "",
		"bad sep= line":       "sep=x\nemail\n",
	} {
		if _, _, err := ReadCSV([]byte(body)); err == nil {
			t.Errorf("%s: read, want refused", name)
		} else if name == "UTF-16 without BOM" && !strings.Contains(err.Error(), "UTF-16") {
			t.Errorf("%s: %v, want the encoding named", name, err)
		}
	}
}

// TestCheckRecipient: an address or id with bytes that are not UTF-8, or
// a NUL, or an address holding U+FFFD, is refused with the reason, never
// cleaned; addresses are normalised as user ids are.
func TestCheckRecipient(t *testing.T) {
	for _, r := range []campaigns.Recipient{
		{Email: "ann\xff@x.example"}, {Email: "ann@x\xc3(.example"}, {Email: "ann\x00@x.example"}, {Email: "\xe9l\xe8ve@x.example"},
		{Email: "ann\ufffd@x.example"}, {Email: "ok@x.example", ExternalID: "id\xff"}, {Email: "ok@x.example", ExternalID: "a\x00b"},
	} {
		email, why := checkRecipient(r)
		if why == "" || !strings.Contains(why, "UTF-8") {
			t.Errorf("%q / %q: %q %q, want refused for its bytes", r.Email, r.ExternalID, email, why)
		}
	}
	for in, want := range map[string]string{" Ann@Shop.Example\t": "ann@shop.example", "\u00a0b@x.example\u00a0": "b@x.example", "élève@bücher.example": "élève@bücher.example"} {
		if email, why := checkRecipient(campaigns.Recipient{Email: in}); email != want || why != "" {
			t.Errorf("%q: %q %q, want %q", in, email, why, want)
		}
	}
}

// TestReadJSON: a JSON import's rows keep their place in the list; an
// address or id whose bytes are not UTF-8 is rejected there, not turned
// into U+FFFD by the decoder; an exported list's tokens are ignored.
func TestReadJSON(t *testing.T) {
	body := "{\"recipients\":[{\"email\":\"a@x.example\",\"external_id\":\"1\"},{\"email\":\"b\xff@x.example\"},{\"email\":\"c@x.example\",\"external_id\":\"\xfe\"}," +
		"{\"email\":\"d@x.example\",\"token\":\"old\"},{\"email\":\"e\\u0000@x.example\"}],\"consent_wording\":\"nl-v1\"}"
	in, wording, bad, err := ReadJSON([]byte(body))
	if err != nil || wording != "nl-v1" {
		t.Fatalf("%v %q", err, wording)
	}
	if len(in) != 3 || in[0].Line != 1 || in[0].ExternalID != "1" || in[1].Line != 4 || in[2].Line != 5 {
		t.Errorf("read %+v", in)
	}
	if len(bad) != 2 || bad[0].Line != 2 || bad[1].Line != 3 || !strings.Contains(bad[0].Reason, "not UTF-8") || !strings.Contains(bad[1].Reason, "external_id") {
		t.Errorf("rejected %+v", bad)
	}
	if _, why := checkRecipient(in[2]); !strings.Contains(why, "NUL") {
		t.Errorf("a NUL escaped in JSON: %q", why)
	}
	// Other keys are ignored, as a CSV's other columns; a recipient that
	// cannot be read is rejected with its place, never the whole import.
	in, _, bad, err = ReadJSON([]byte(`{"recipients":[{"email":"a@x.example","name":"Ann","first_name":"Ann"},{"email":123},"b@x.example",` +
		`{"Email Address":"c@x.example","external_id":12345678901234567890},{"email":"d@x.example","e-mail":"e@x.example"},{"email":"f@x.example","external_id":1.5e3},[],` +
		`{"email":"g@x.example","external_id":{"id":1}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(in) != 3 || in[0].Email != "a@x.example" || in[1].Line != 4 || in[1].Email != "c@x.example" || in[1].ExternalID != "12345678901234567890" || in[2].ExternalID != "1.5e3" {
		t.Errorf("read %+v", in)
	}
	var lines []int
	for _, b := range bad {
		lines = append(lines, b.Line)
	}
	if fmt.Sprint(lines) != "[2 3 5 7 8]" {
		t.Errorf("rejected %+v, want places 2 3 5 7 8", bad)
	}
	for _, body := range []string{`{"recipients":[{"email":"a@x.example"}],"consent":"nl-v1"}`, `{"recipients":{"email":"a@x.example"}}`, `[{"email":"a@x.example"}]`, `{"recipients":[`} {
		if _, _, _, err := ReadJSON([]byte(body)); err == nil {
			t.Errorf("%s: read, want refused whole", body)
		}
	}
}

// TestReadCSVHeaderNames: the email column is found whatever the language,
// case, accents, spaces and punctuation of its name; a header naming it
// twice, or not at all, is refused saying which columns.
func TestReadCSVHeaderNames(t *testing.T) {
	for _, h := range []string{"E-Mail-Adresse", "e-mail adresse", "Courriel", "Adresse e-mail", "Adresse électronique", "Correo electrónico",
		"CORREO ELECTRONICO", "Dirección de correo electrónico", "Indirizzo email", "Indirizzo e-mail", "E-mailadres", "Endereço de e-mail",
		"E-postadress", "Sähköposti", "Adres e-mail", "E-posta", "E_MAIL", "Email Address", "e.mail", "Mail"} {
		if got, bad := rows(t, "Name;"+h+";external_id\nAnn;a@x.example;1\n"); got != "2:a@x.example/1" {
			t.Errorf("header %q: %s %+v", h, got, bad)
		}
	}
	for body, want := range map[string]string{
		"email,email\na@x.example,b@x.example\n":          `columns 1 ("email") and 2 ("email") both name the email column`,
		"E-mail;Courriel\na@x.example;b@x.example\n":      `columns 1 ("E-mail") and 2 ("Courriel") both name the email column`,
		"email,external_id,externalID\na@x.example,1,2\n": `columns 2 ("external_id") and 3 ("externalID") both name the external_id column`,
		"name,phone\nAnn,1\n":                             `names no email column: found "name", "phone" (separated by ','); want an email column`,
		"Nom;Téléphone;Adresse postale\nAnn;1;rue\n":      `found "Nom", "Téléphone", "Adresse postale" (separated by ';')`,
	} {
		if _, _, err := ReadCSV([]byte(body)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want refused saying %q", body, err, want)
		}
	}
}
