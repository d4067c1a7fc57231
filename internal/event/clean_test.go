package event

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestAppendClean(t *testing.T) {
	cases := []struct{ in, text, link string }{
		{"Café", "Café", "Café"},
		{"Caf\xe9", "Caf\uFFFD", "Caf%E9"},                  // Latin-1, as escape() sends it
		{"a\x00b", "a\uFFFDb", "a%00b"},                     // NUL
		{"\xc0\x80", "\uFFFD\uFFFD", "%C0%80"},              // overlong NUL
		{"\xed\xa0\x80", "\uFFFD\uFFFD\uFFFD", "%ED%A0%80"}, // a surrogate
		{"\xe2\x82", "\uFFFD\uFFFD", "%E2%82"},              // cut sequence
		{"ok\xff\xfe€", "ok\uFFFD\uFFFD€", "ok%FF%FE€"},
	}
	for _, c := range cases {
		if Clean([]byte(c.in)) != (c.in == c.text) {
			t.Errorf("Clean(%q) = %v", c.in, Clean([]byte(c.in)))
		}
		if got := string(AppendClean(nil, []byte(c.in), false)); got != c.text {
			t.Errorf("text %q: %q, want %q", c.in, got, c.text)
		}
		if got := string(AppendClean(nil, []byte(c.in), true)); got != c.link {
			t.Errorf("link %q: %q, want %q", c.in, got, c.link)
		}
		if out := AppendClean(nil, []byte(c.in), false); !Clean(out) {
			t.Errorf("%q cleaned is not clean: %q", c.in, out)
		}
	}
}

func TestAppendShortURL(t *testing.T) {
	pad := strings.Repeat("x", 2100)
	cases := []struct{ name, in, want string }{
		{"short stays", "https://shop.example/p?a=1#f", "https://shop.example/p?a=1#f"},
		{"fragment goes first", "https://shop.example/p?utm_source=news#" + pad, "https://shop.example/p?utm_source=news"},
		{"tags after the cut, one long parameter",
			"https://shop.example/p?state=" + pad + "&utm_source=news&utm_medium=email&utm_campaign=nov&gbraid=0AAAAAo-test&size=42",
			"https://shop.example/p?utm_source=news&utm_medium=email&utm_campaign=nov&gbraid=0AAAAAo-test&size=42"},
		{"click ids of any platform and short parameters of any name stay",
			"https://shop.example/p?blob=" + pad + "&ttclid=T1&li_fat_id=L1&newclid2030=N1&aff=a7&ff_rt=tok",
			"https://shop.example/p?ttclid=T1&li_fat_id=L1&newclid2030=N1&aff=a7&ff_rt=tok"},
		{"a tag of kilobytes is cut to its field's bound, never dropped, never takes the host and path",
			"https://shop.example/l9?utm_term=" + strings.Repeat("t", 3000) + "&utm_source=late9",
			"https://shop.example/l9?utm_term=" + strings.Repeat("t", 256) + "&utm_source=late9"},
		{"the issue's input: a campaign of 2,100 bytes",
			"https://shop.example/p?utm_source=longval&utm_campaign=" + strings.Repeat("c", 2100),
			"https://shop.example/p?utm_source=longval&utm_campaign=" + strings.Repeat("c", 256)},
		{"an encoded value is cut on a character, not inside an escape nor a character",
			"https://shop.example/p?utm_content=" + strings.Repeat("%C3%A9", 700) + "&gclid=G",
			"https://shop.example/p?utm_content=" + strings.Repeat("%C3%A9", 128) + "&gclid=G"},
		{"an escape that would cross the bound is left out whole",
			"https://shop.example/p?utm_campaign=x" + strings.Repeat("%C3%A9", 700),
			"https://shop.example/p?utm_campaign=x" + strings.Repeat("%C3%A9", 127)},
		{"a raw multi-byte value too, and ref (no field) to 256",
			"https://shop.example/p?ref=a" + strings.Repeat("é", 1100),
			"https://shop.example/p?ref=a" + strings.Repeat("é", 127)},
		{"an affiliate to its field's 128 bytes, a + is one byte",
			"https://shop.example/p?aff=" + strings.Repeat("+", 2100),
			"https://shop.example/p?aff=" + strings.Repeat("+", 128)},
		{"long path loses its end, tags stay",
			"https://shop.example/" + pad + "?utm_source=news",
			"https://shop.example/" + strings.Repeat("x", 2048-len("https://shop.example/")-len("?utm_source=news")) + "?utm_source=news"},
	}
	for _, c := range cases {
		got := string(AppendShortURL(nil, []byte(c.in), 2048))
		if got != c.want {
			t.Errorf("%s:\n got %.200q\nwant %.200q", c.name, got, c.want)
		}
		if len(got) > 2048 {
			t.Errorf("%s: %d bytes", c.name, len(got))
		}
	}
	// Many short parameters: the campaign ones are kept before the others,
	// the others as many as fit, and the result is never over the limit.
	var q []string
	for i := 0; i < 300; i++ {
		q = append(q, "f"+strings.Repeat("0", 5)+"="+strings.Repeat("v", i%20))
	}
	long := "https://shop.example/p?" + strings.Join(q, "&") + "&utm_campaign=" + strings.Repeat("c", 200) + "&gclid=G1"
	got := string(AppendShortURL(nil, []byte(long), 2048))
	if len(got) > 2048 || !strings.Contains(got, "&utm_campaign="+strings.Repeat("c", 200)+"&gclid=G1") || !strings.Contains(got, "?f00000=&") {
		t.Errorf("many parameters: %d bytes %.300q", len(got), got)
	}
	// A cut never splits an escape or a character.
	for _, path := range []string{strings.Repeat("%C3%A9", 400), strings.Repeat("é", 1100)} {
		got := AppendShortURL(nil, []byte("https://shop.example/"+path+"?gclid=G"), 2048)
		if !utf8.Valid(got) || strings.Contains(string(got[len(got)-12:]), "%?") || !strings.HasSuffix(string(got), "?gclid=G") {
			t.Errorf("cut path: %q", got[len(got)-20:])
		}
		if i := strings.LastIndexByte(string(got), '%'); i > len(got)-len("?gclid=G")-3 && i < len(got)-len("?gclid=G") {
			t.Errorf("cut inside an escape: %q", got[len(got)-20:])
		}
	}
}

func TestCampaignParam(t *testing.T) {
	for _, k := range []string{"utm_source", "UTM_Campaign", "gclid", "gbraid", "wbraid", "msclkid", "fbclid", "ttclid", "twclid", "dclid", "yclid", "li_fat_id", "ScCid", "aff", "ff_rt", "irclickid"} {
		if !CampaignParam([]byte(k)) {
			t.Errorf("%s is not a campaign parameter", k)
		}
	}
	for _, k := range []string{"q", "page", "session", "state", "utm"} {
		if CampaignParam([]byte(k)) {
			t.Errorf("%s is a campaign parameter", k)
		}
	}
}

func FuzzClean(f *testing.F) {
	for _, s := range []string{"", "abc", "abcdefgh\x00", "abcdefghé", "\xff", "0123456789abcdef\xc3", "a\x00"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		want := bytes.IndexByte(b, 0) < 0 && utf8.Valid(b)
		if got := Clean(b); got != want {
			t.Fatalf("Clean(%q) = %v, want %v", b, got, want)
		}
		if out := AppendClean(nil, b, false); !Clean(out) || want && !bytes.Equal(out, b) {
			t.Fatalf("AppendClean(%q) = %q", b, out)
		}
	})
}
