package clientaddr

import (
	"net/netip"
	"strings"
	"testing"
)

func resolver(t testing.TB, trusted string, h Header) *Resolver {
	t.Helper()
	p, err := ParseTrusted(trusted)
	if err != nil {
		t.Fatal(err)
	}
	return New(p, h)
}

func lines(ls ...string) [][]byte {
	out := make([][]byte, len(ls))
	for i, l := range ls {
		out[i] = []byte(l)
	}
	return out
}

const proxy = "10.0.0.5"

// TestXForwardedFor: the client is the right-most address no trusted
// proxy has, over every header line; what a client puts left of it, or
// sends to a collector that trusts no one, is never believed.
func TestXForwardedFor(t *testing.T) {
	r := resolver(t, "10.0.0.0/8, 192.168.1.1, 2001:db8:aa::/48", XForwardedFor)
	cases := []struct {
		peer  string
		lines []string
		want  string
	}{
		{proxy, nil, proxy},                                         // no header: the proxy's own request
		{proxy, []string{"203.0.113.7"}, "203.0.113.7"},             // one proxy
		{proxy, []string{"6.6.6.6, 203.0.113.7"}, "203.0.113.7"},    // a client's claim on the left
		{proxy, []string{"6.6.6.6", "203.0.113.7"}, "203.0.113.7"},  // a second line, appended by the proxy
		{proxy, []string{"203.0.113.7", "10.1.2.3"}, "203.0.113.7"}, // two trusted proxies in a row
		{proxy, []string{"6.6.6.6,203.0.113.7, 192.168.1.1 ,10.9.9.9"}, "203.0.113.7"},
		{proxy, []string{"203.0.113.7:4711"}, "203.0.113.7"},                        // v4:port
		{proxy, []string{"[2001:db8::1]:4711"}, "2001:db8::1"},                      // [v6]:port
		{proxy, []string{"[2001:db8::1]"}, "2001:db8::1"},                           // [v6]
		{proxy, []string{"2001:db8::1"}, "2001:db8::1"},                             // bare v6
		{proxy, []string{"::ffff:203.0.113.7"}, "203.0.113.7"},                      // v4-mapped
		{proxy, []string{"fe80::1%eth0"}, "fe80::1"},                                // zone dropped
		{proxy, []string{"6.6.6.6, 2001:db8:aa::9"}, "6.6.6.6"},                     // a trusted v6 proxy
		{proxy, []string{"10.1.1.1, 10.2.2.2"}, "10.1.1.1"},                         // all trusted: the first
		{proxy, []string{"6.6.6.6, unknown"}, proxy},                                // the proxy did not know
		{proxy, []string{"6.6.6.6, garbage, 10.2.2.2"}, "10.2.2.2"},                 // the nearest believable hop
		{proxy, []string{"6.6.6.6,"}, proxy},                                        // an empty entry
		{proxy, []string{"6.6.6.6,, 203.0.113.7"}, "203.0.113.7"},                   // an empty entry the client sent
		{proxy, []string{"203.0.113.7:99999x"}, proxy},                              // no port
		{"203.0.113.50", []string{"6.6.6.6"}, "203.0.113.50"},                       // a peer not trusted
		{"::ffff:10.0.0.5", []string{"203.0.113.7"}, "203.0.113.7"},                 // a mapped peer
		{"192.168.1.2", []string{"203.0.113.7"}, "192.168.1.2"},                     // 192.168.1.1 alone is trusted
		{proxy, []string{"  203.0.113.7  "}, "203.0.113.7"},                         // spaces
		{proxy, []string{"[2001:db8::1]:4711, [2001:db8:aa::2]:80"}, "2001:db8::1"}, // ports on both
	}
	for _, c := range cases {
		got := r.Client(netip.MustParseAddr(c.peer), lines(c.lines...))
		if got.String() != c.want {
			t.Errorf("peer %s, X-Forwarded-For %q: %s, want %s", c.peer, c.lines, got, c.want)
		}
	}
	// Trusting no one, every header is ignored.
	none := resolver(t, "", XForwardedFor)
	if got := none.Client(netip.MustParseAddr(proxy), lines("203.0.113.7")); got.String() != proxy {
		t.Errorf("no trusted proxy: %s", got)
	}
	var nilR *Resolver
	if got := nilR.Client(netip.MustParseAddr(proxy), lines("203.0.113.7")); got.String() != proxy {
		t.Errorf("nil resolver: %s", got)
	}
}

// TestForwarded: RFC 7239's for= parameters, quoted, bracketed, with
// ports, next to other parameters, in any case.
func TestForwarded(t *testing.T) {
	r := resolver(t, "10.0.0.0/8", Forwarded)
	cases := []struct {
		lines []string
		want  string
	}{
		{[]string{`for=203.0.113.7`}, "203.0.113.7"},
		{[]string{`for="[2001:db8::1]:4711"`}, "2001:db8::1"},
		{[]string{`for="203.0.113.7:4711";proto=https;by=10.0.0.5`}, "203.0.113.7"},
		{[]string{`For=6.6.6.6, FOR=203.0.113.7`}, "203.0.113.7"},
		{[]string{`for=6.6.6.6`, `for=203.0.113.7;host="shop.example"`}, "203.0.113.7"},
		{[]string{`proto=https;for=203.0.113.7`}, "203.0.113.7"},
		{[]string{`for=203.0.113.7, for=10.0.0.9`}, "203.0.113.7"},
		{[]string{`for="6.6.6.6, 7.7.7.7", for=203.0.113.7`}, "203.0.113.7"}, // a comma in quotes is no separator
		{[]string{`for=6.6.6.6;by="a,b", for=203.0.113.7`}, "203.0.113.7"},
		{[]string{`for="\[2001:db8::1\]"`}, "2001:db8::1"}, // quoted-pair escapes
		{[]string{`for=6.6.6.6, for=unknown`}, "10.0.0.5"},
		{[]string{`for=6.6.6.6, for="_hidden"`}, "10.0.0.5"},
		{[]string{`for=6.6.6.6, proto=https`}, "10.0.0.5"},               // a hop without for=
		{[]string{`for=6.6.6.6, for=7.7.7.7;for=8.8.8.8`}, "10.0.0.5"},   // two for= in one hop
		{[]string{`for=6.6.6.6, for="203.0.113.7`}, "10.0.0.5"},          // an open quote
		{[]string{`for=6.6.6.6, for=unknown, for=10.3.3.3`}, "10.3.3.3"}, // the nearest believable hop
		{[]string{`for = 203.0.113.7`}, "203.0.113.7"},                   // spaces, leniently
		{[]string{``}, "10.0.0.5"},                                       // empty
		{[]string{`for=6.6.6.6,`}, "10.0.0.5"},                           // a trailing comma
		{[]string{`203.0.113.7`}, "10.0.0.5"},                            // not the syntax
	}
	for _, c := range cases {
		got := r.Client(netip.MustParseAddr("10.0.0.5"), lines(c.lines...))
		if got.String() != c.want {
			t.Errorf("Forwarded %q: %s, want %s", c.lines, got, c.want)
		}
	}
}

func TestParseTrusted(t *testing.T) {
	p, err := ParseTrusted(" 10.0.0.0/8 ,127.0.0.1, ::1, 2001:db8::/32, ::ffff:192.168.0.0/112,,")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, x := range p {
		got = append(got, x.String())
	}
	if strings.Join(got, " ") != "10.0.0.0/8 127.0.0.1/32 ::1/128 2001:db8::/32 192.168.0.0/16" {
		t.Errorf("parsed %v", got)
	}
	for _, bad := range []string{"true", "10.0.0.0/33", "any", "10.0.0.0/8,x"} {
		if _, err := ParseTrusted(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, err := ParseHeader("Forwarded"); err != nil {
		t.Error(err)
	}
	if _, err := ParseHeader("X-Real-IP"); err == nil {
		t.Error("X-Real-IP accepted")
	}
}

func TestClientDoesNotAllocate(t *testing.T) {
	xff := resolver(t, "10.0.0.0/8", XForwardedFor)
	fwd := resolver(t, "10.0.0.0/8", Forwarded)
	peer := netip.MustParseAddr("10.0.0.5")
	l1 := lines("6.6.6.6, [2001:db8::1]:4711", "203.0.113.7:80, 10.1.1.1")
	l2 := lines(`for=6.6.6.6, for="[2001:db8:cafe::17]:4711";proto=https`, `for=10.2.2.2`)
	if n := testing.AllocsPerRun(100, func() {
		xff.Client(peer, l1)
		fwd.Client(peer, l2)
	}); n != 0 {
		t.Errorf("%v allocations", n)
	}
}

// FuzzClient: no header panics the parser, and the answer is always the
// peer or an address the header holds, never the peer when it is not
// trusted.
func FuzzClient(f *testing.F) {
	for _, s := range []string{
		"203.0.113.7", "6.6.6.6, 203.0.113.7", "[2001:db8::1]:4711", "203.0.113.7:4711", "unknown", ",,", "",
		`for=203.0.113.7`, `for="[2001:db8::1]:4711";proto=https, for=10.0.0.9`, `for="a\"b", for=x`, `for="`,
		`for=1.2.3.4;for=5.6.7.8`, "fe80::1%eth0", "::ffff:1.2.3.4", `for="\`, "[::1", "[::1]x",
	} {
		f.Add(s, "10.0.0.5", false)
		f.Add(s, "203.0.113.50", true)
	}
	f.Fuzz(func(t *testing.T, header, peer string, forwarded bool) {
		p, err := netip.ParseAddr(peer)
		if err != nil {
			return
		}
		h := XForwardedFor
		if forwarded {
			h = Forwarded
		}
		r := resolver(t, "10.0.0.0/8, 2001:db8:aa::/48", h)
		ls := [][]byte{[]byte(header), []byte(header + "," + header)}
		got := r.Client(p, ls)
		if !got.IsValid() {
			t.Fatalf("no address for %q from %s", header, peer)
		}
		if !r.Trusted(p) && got != p.Unmap() {
			t.Fatalf("untrusted peer %s: answered %s", peer, got)
		}
		if got != p.Unmap() && got.Is4() && !strings.Contains(header, firstField(got)) && !spelledIn(header, got) {
			t.Fatalf("answer %s is not in %q", got, header)
		}
		ParseNode([]byte(header))
	})
}

// firstField is an IPv4 address's first number, which the header it came
// from holds however it spelled the address (::ffff:1.2.3.4).
func firstField(a netip.Addr) string {
	s := a.String()
	return s[:strings.IndexByte(s, '.')]
}

// spelledIn says whether header holds a, however spelled: an IPv4-mapped
// IPv6 address in hex (::ffff:1:1 is 0.1.0.1) holds none of its dotted
// numbers.
func spelledIn(header string, a netip.Addr) bool {
	for _, tok := range strings.FieldsFunc(header, func(r rune) bool { return strings.ContainsRune(" ,;=\"[]", r) }) {
		if x, err := netip.ParseAddr(tok); err == nil && x.Unmap() == a {
			return true
		}
		if x, err := netip.ParseAddrPort(tok); err == nil && x.Addr().Unmap() == a {
			return true
		}
	}
	return false
}
