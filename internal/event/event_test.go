package event

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func sample() *Event {
	e := &Event{ID: NewID(1_700_000_000_123), TimeMs: 1_700_000_000_123, Ingest: IngestAPI, Revenue: 19_990_000}
	for i := range e.F {
		e.F[i] = []byte(Specs[i].Key + "-value")
	}
	e.F[Currency] = []byte("EUR")
	e.Props = []Prop{{Key: []byte("plan"), Value: []byte("pro")}, {Key: []byte("empty"), Value: nil}}
	return e
}

func TestRoundTrip(t *testing.T) {
	in := sample()
	buf := Append(nil, in)
	var out Event
	if err := Decode(buf, &out); err != nil {
		t.Fatal(err)
	}
	if out.ID != in.ID || out.TimeMs != in.TimeMs || out.Ingest != in.Ingest || out.Revenue != in.Revenue {
		t.Fatalf("header differs: %+v", out)
	}
	for i := range in.F {
		if !bytes.Equal(in.F[i], out.F[i]) {
			t.Errorf("field %s: got %q want %q", Specs[i].Key, out.F[i], in.F[i])
		}
	}
	if len(out.Props) != 2 || string(out.Props[0].Value) != "pro" || len(out.Props[1].Value) != 0 {
		t.Errorf("props: %+v", out.Props)
	}
}

func TestDecodeRejects(t *testing.T) {
	good := Append(nil, sample())
	cases := map[string][]byte{
		"empty":         nil,
		"wrong version": append([]byte{9}, good[1:]...),
		"truncated":     good[:len(good)-3],
		"trailing":      append(append([]byte{}, good...), 0),
	}
	for name, b := range cases {
		var e Event
		if err := Decode(b, &e); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: got %v, want ErrMalformed", name, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(Append(nil, sample()))
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		var e Event
		if err := Decode(b, &e); err != nil {
			return
		}
		// Whatever decodes must survive a second trip unchanged (the bytes
		// may differ: a varint can be written in more than one length).
		var again Event
		if err := Decode(Append(nil, &e), &again); err != nil {
			t.Fatalf("re-encoded event does not decode: %v", err)
		}
		if !reflect.DeepEqual(normal(&e), normal(&again)) {
			t.Fatalf("second trip differs:\n%+v\n%+v", e, again)
		}
	})
}

func TestParseAmount(t *testing.T) {
	cases := []struct {
		in   string
		want int64
		err  bool
	}{
		{"19.99", 19_990_000, false},
		{"0", 0, false},
		{"", 0, false},
		{"-5", -5_000_000, false},
		{"0.000001", 1, false},
		{".5", 500_000, false},
		{"1.0000001", 0, true},
		{"1e3", 0, true},
		{"1.2.3", 0, true},
		{"-", 0, true},
		{"9999999999999", 0, true},
		{"1000000000", 1_000_000_000_000_000, false},
		{"-1000000000.000000", -1_000_000_000_000_000, false},
		{"0001000000000", 1_000_000_000_000_000, false},
		{"1000000000.000001", 0, true},
		{"1000000001", 0, true},
		{"-1000000001", 0, true},
		{"999999999999", 0, true},
		{"99999999999999999999999999", 0, true},
	}
	for _, c := range cases {
		got, err := ParseAmount([]byte(c.in))
		if (err != nil) != c.err || got != c.want {
			t.Errorf("ParseAmount(%q) = %d, %v; want %d, err=%v", c.in, got, err, c.want, c.err)
		}
	}
	// Beyond the bound the reason says so; a malformed amount says that.
	for in, want := range map[string]error{"999999999999": ErrAmountTooLarge, "-1000000000.5": ErrAmountTooLarge,
		"99999999999999999999x": ErrAmount, "1e12": ErrAmount} {
		if _, err := ParseAmount([]byte(in)); err != want {
			t.Errorf("ParseAmount(%q): %v, want %v", in, err, want)
		}
	}
}

func TestSet(t *testing.T) {
	var e Event
	if err := e.Set(Site, []byte("shop_1.example")); err != nil {
		t.Error(err)
	}
	if err := e.Set(Site, []byte("bad site")); err == nil || err.Error() != "site has a character outside [A-Za-z0-9_.:@+-]" {
		t.Errorf("got %v", err)
	}
	if err := e.Set(Type, []byte("PageView")); err == nil {
		t.Error("upper-case type accepted")
	}
	// A currency in lower or mixed case is the same code (ASCII only).
	for _, c := range []string{"eur", "Usd", "chF", "EUR"} {
		if err := e.Set(Currency, []byte(c)); err != nil || string(e.F[Currency]) != strings.ToUpper(c) {
			t.Errorf("currency %q: %v, stored %q", c, err, e.F[Currency])
		}
	}
	for _, c := range []string{"eu", "euro", "e1r", "\u00e9ur"} {
		if err := e.Set(Currency, []byte(c)); err == nil {
			t.Errorf("currency %q accepted", c)
		}
	}
	long := bytes.Repeat([]byte("é"), 2000) // 4000 bytes
	if err := e.Set(URL, long); err != nil {
		t.Fatal(err)
	}
	if len(e.F[URL]) != 2048 || !reflect.DeepEqual(e.F[URL], long[:2048]) {
		t.Errorf("url cut to %d bytes", len(e.F[URL]))
	}
	if err := e.Set(Title, long); err != nil {
		t.Fatal(err)
	}
	if len(e.F[Title]) != 512 {
		t.Errorf("title cut to %d bytes, want 512 (whole runes)", len(e.F[Title]))
	}
	if err := e.Set(Title, []byte("aé")[:2]); err != nil || len(e.F[Title]) != 2 {
		t.Errorf("short text must be kept as is")
	}
	// A user or order id with bytes that are not UTF-8, or a NUL, is
	// refused: cleaned, O\xff and O\xfe would be one order.
	for _, bad := range []struct {
		f Field
		v string
	}{{OrderID, "O\xff"}, {OrderID, "O\xfe"}, {UserID, "ann\x00@x.example"}, {UserID, "\xc3(@x.example"}} {
		if err := e.Set(bad.f, []byte(bad.v)); err == nil || !strings.Contains(err.Error(), "not UTF-8") {
			t.Errorf("%s %q: %v, want refused", Specs[bad.f].Key, bad.v, err)
		}
	}
	if err := e.Set(OrderID, []byte("Commande-é-1")); err != nil {
		t.Errorf("an order id in UTF-8 refused: %v", err)
	}
}

func TestTruncateRuneBoundary(t *testing.T) {
	b := []byte("aé") // 'a' + 2 bytes
	if got := truncate(b, 2); string(got) != "a" {
		t.Errorf("got %q", got)
	}
}

func TestValidate(t *testing.T) {
	e := Event{}
	if e.Validate() != ErrNoSite {
		t.Error("missing site not reported")
	}
	e.F[Site] = []byte("demo")
	if e.Validate() != ErrNoType {
		t.Error("missing type not reported")
	}
	e.F[Type] = []byte("purchase")
	e.Revenue = 1
	if e.Validate() != ErrRevenueNoCurency {
		t.Error("revenue without currency not reported")
	}
	e.F[Currency] = []byte("EUR")
	if err := e.Validate(); err != nil {
		t.Error(err)
	}
}

// TestValidateLists: a lists prop, which fans out into a consent row per
// name, names MaxLists at most, none empty.
func TestValidateLists(t *testing.T) {
	many := strings.Repeat("l,", MaxLists-1) + "l"
	for lists, want := range map[string]error{
		"": nil, "news": nil, "news,tips": nil, many: nil,
		many + ",l": ErrTooManyLists, strings.Repeat(",", 2000): ErrEmptyList, strings.Repeat("a,", 2000) + "a": ErrTooManyLists,
		"news,,tips": ErrEmptyList, ",news": ErrEmptyList, "news,": ErrEmptyList, ",": ErrEmptyList,
	} {
		e := Event{Props: []Prop{{Key: []byte("source"), Value: []byte("form")}, {Key: []byte("lists"), Value: []byte(lists)}}}
		e.F[Site], e.F[Type] = []byte("demo"), []byte("subscribe")
		if err := e.Validate(); err != want {
			t.Errorf("lists %.40q: %v, want %v", lists, err, want)
		}
	}
}

func TestNewID(t *testing.T) {
	a, b := NewID(1000), NewID(1000)
	if a == b {
		t.Fatal("two ids collide")
	}
	if a[6]>>4 != 7 || a[8]>>6 != 2 {
		t.Errorf("version/variant bits wrong: %x", a)
	}
	if IDTimeMs(a) != 1000 {
		t.Errorf("time = %d", IDTimeMs(a))
	}
	if s := IDString(a); len(s) != 36 || s[14] != '7' {
		t.Errorf("IDString = %s", s)
	}
}

func TestFieldByKey(t *testing.T) {
	for i := range Specs {
		f, ok := FieldByKey([]byte(Specs[i].Key))
		if !ok || f != Field(i) {
			t.Errorf("%s -> %d, %v", Specs[i].Key, f, ok)
		}
	}
	if _, ok := FieldByKey([]byte("nope")); ok {
		t.Error("unknown key found")
	}
}

func BenchmarkAppend(b *testing.B) {
	e := sample()
	buf := make([]byte, 0, 2048)
	b.ReportAllocs()
	for b.Loop() {
		buf = Append(buf[:0], e)
	}
}

func BenchmarkDecode(b *testing.B) {
	buf := Append(nil, sample())
	var e Event
	b.ReportAllocs()
	for b.Loop() {
		if err := Decode(buf, &e); err != nil {
			b.Fatal(err)
		}
	}
}

// normal maps empty slices to nil so DeepEqual compares content only.
func normal(e *Event) Event {
	n := *e
	for i := range n.F {
		if len(n.F[i]) == 0 {
			n.F[i] = nil
		}
	}
	n.Props = nil
	for _, p := range e.Props {
		n.Props = append(n.Props, Prop{Key: bytes.Clone(p.Key), Value: bytes.Clone(p.Value)})
	}
	return n
}
