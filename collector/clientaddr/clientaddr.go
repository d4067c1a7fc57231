// Package clientaddr finds a request's client address when the collector
// sits behind proxies it trusts. Each proxy appends the address of the
// peer it got the request from to a forwarding header, so only the
// entries that trusted proxies wrote can be believed: walking the header
// from its right end, the client is the first address that is not one of
// the trusted proxies. Anything to its left is what the client itself
// sent, and it may say anything.
//
// It reads X-Forwarded-For (every header line, in order, each a list of
// addresses) or Forwarded (RFC 7239, its for= parameters), whichever the
// proxies write: reading both would let a client put an address in the
// one its proxy leaves alone. An entry may carry a port (198.51.100.7:4711,
// [2001:db8::1]:4711) and, in Forwarded, quotes and brackets
// (for="[2001:db8::1]:4711"). An entry that is no address (unknown, an
// obfuscated identifier, garbage) ends the walk: the client is then the
// nearest hop that could be believed.
//
// Parsing allocates nothing, for the collector's hot path.
package clientaddr

import (
	"fmt"
	"net/netip"
	"strings"
	"unsafe"
)

// Header is the forwarding header the trusted proxies write.
type Header uint8

const (
	// XForwardedFor is X-Forwarded-For: comma-separated addresses, the
	// proxies' usual header (nginx, HAProxy, cloud load balancers).
	XForwardedFor Header = iota
	// Forwarded is RFC 7239's Forwarded: comma-separated elements, each
	// with a for= parameter.
	Forwarded
)

// Name is the header's name as sent.
func (h Header) Name() string {
	if h == Forwarded {
		return "Forwarded"
	}
	return "X-Forwarded-For"
}

// ParseHeader reads a header's name, in any case.
func ParseHeader(s string) (Header, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "x-forwarded-for", "":
		return XForwardedFor, nil
	case "forwarded":
		return Forwarded, nil
	}
	return 0, fmt.Errorf("%q is neither X-Forwarded-For nor Forwarded", s)
}

// Resolver finds client addresses behind a list of trusted networks. The
// zero Resolver trusts nothing: every client is its connection's peer.
type Resolver struct {
	trusted []netip.Prefix
	header  Header
}

// New returns a Resolver trusting the proxies in trusted, which write
// header.
func New(trusted []netip.Prefix, header Header) *Resolver {
	return &Resolver{trusted: trusted, header: header}
}

// ParseTrusted reads a comma-separated list of networks in CIDR notation
// (10.0.0.0/8, 2001:db8::/32) or single addresses (127.0.0.1, ::1). The
// empty string is the empty list.
func ParseTrusted(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if strings.Contains(part, "/") {
			p, err := netip.ParsePrefix(part)
			if err != nil {
				return nil, fmt.Errorf("trusted proxy %q: want a network such as 10.0.0.0/8 or an address: %w", part, err)
			}
			if p.Addr().Is4In6() {
				p = netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0))
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(part)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q: want a network such as 10.0.0.0/8 or an address: %w", part, err)
		}
		a = a.Unmap().WithZone("")
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// Header is the forwarding header r reads.
func (r *Resolver) Header() Header { return r.header }

// Enabled says whether any proxy is trusted, so that forwarding headers
// are read at all.
func (r *Resolver) Enabled() bool { return r != nil && len(r.trusted) > 0 }

// Trusted says whether a is one of the trusted proxies.
func (r *Resolver) Trusted(a netip.Addr) bool {
	if r == nil {
		return false
	}
	a = a.Unmap()
	for _, p := range r.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Client returns the client address of a request that came from peer
// with the forwarding header lines (r's Header, in the order received).
// A peer that is not trusted is the client, whatever the header says.
func (r *Resolver) Client(peer netip.Addr, lines [][]byte) netip.Addr {
	peer = peer.Unmap()
	if !r.Trusted(peer) {
		return peer
	}
	// One pass from the left, keeping what a walk from the right end
	// would stop at: the right-most entry that is not a trusted address
	// (stop), and the entry just right of it (after), which a trusted
	// proxy wrote and which is the answer when stop is no address.
	w := walk{trusted: r}
	for _, line := range lines {
		if r.header == Forwarded {
			forEachForwarded(line, &w)
		} else {
			forEachXFF(line, &w)
		}
	}
	switch {
	case w.stopped && w.stopValid:
		return w.stop
	case w.stopped && w.afterSet:
		return w.after
	case w.stopped:
		return peer
	case w.firstSet:
		// Every entry is a trusted proxy: the request began at the
		// left-most of them.
		return w.first
	}
	return peer
}

// walk is Client's state over the entries, left to right.
type walk struct {
	trusted   *Resolver
	stopped   bool // some entry is not a trusted address
	stopValid bool // ...and the right-most such is an address
	stop      netip.Addr
	afterSet  bool // a trusted entry follows the stop
	after     netip.Addr
	firstSet  bool
	first     netip.Addr // the left-most entry, while all are trusted
}

func (w *walk) entry(a netip.Addr, ok bool) {
	switch {
	case !ok:
		w.stopped, w.stopValid, w.afterSet = true, false, false
	case !w.trusted.Trusted(a):
		w.stopped, w.stopValid, w.stop, w.afterSet = true, true, a, false
	case w.stopped:
		if !w.afterSet {
			w.after, w.afterSet = a, true
		}
	case !w.firstSet:
		w.first, w.firstSet = a, true
	}
}

// forEachXFF passes each comma-separated entry of an X-Forwarded-For line.
func forEachXFF(line []byte, w *walk) {
	for {
		i := indexByte(line, ',')
		if i < 0 {
			w.entry(ParseNode(line))
			return
		}
		w.entry(ParseNode(line[:i]))
		line = line[i+1:]
	}
}

// forEachForwarded passes the for= node of each comma-separated element of
// a Forwarded line (RFC 7239: element *( "," element ), an element being
// pair *( ";" pair ), a pair token "=" ( token / quoted-string )). An
// element without for=, with two, or that does not parse is an unknown
// hop.
func forEachForwarded(line []byte, w *walk) {
	if len(trimSpace(line)) == 0 {
		return
	}
	for {
		node, ok, rest := forwardedElement(line)
		if ok {
			w.entry(ParseNode(node))
		} else {
			w.entry(netip.Addr{}, false)
		}
		if len(rest) == 0 {
			return
		}
		line = rest[1:] // past the ','
	}
}

// forwardedElement reads the element at the start of line up to the next
// ',' outside quotes (rest starts with it, or is empty), returning its
// for= value, unquoted.
func forwardedElement(line []byte) (node []byte, ok bool, rest []byte) {
	found, bad := false, false
	for {
		line = trimLeft(line)
		name, after := token(line)
		after = trimLeft(after)
		if len(name) == 0 || len(after) == 0 || after[0] != '=' {
			bad = true
			line = skipPair(after)
		} else {
			after = trimLeft(after[1:])
			isFor := equalFold(name, "for")
			var val []byte
			valid := true
			switch {
			case len(after) > 0 && after[0] == '"' && isFor:
				val, after, valid = quoted(after)
			case len(after) > 0 && after[0] == '"':
				after = skipQuoted(after)
			default:
				val, after = token(after)
			}
			if isFor {
				bad = bad || found || !valid // two for= in one hop, or a broken one
				node, found = val, true
			}
			line = trimLeft(after)
			if len(line) > 0 && line[0] != ';' && line[0] != ',' {
				bad = true
				line = skipPair(line)
			}
		}
		if len(line) > 0 && line[0] == ';' {
			line = line[1:]
			continue
		}
		return node, found && !bad, line
	}
}

// maxNode bounds a node's text: an IPv6 address with an IPv4 tail,
// brackets and a port fit well within it.
const maxNode = 64

// ParseNode reads one hop's address: an IPv4 address, an IPv6 address,
// either with a port (198.51.100.7:4711, [2001:db8::1]:4711), spaces
// around it. A zone is dropped, an IPv4-mapped IPv6 address is its IPv4
// address. Anything else (unknown, an obfuscated identifier, a name) is
// no address.
func ParseNode(b []byte) (netip.Addr, bool) {
	b = trimSpace(b)
	if len(b) == 0 || len(b) > maxNode {
		return netip.Addr{}, false
	}
	if b[0] == '[' {
		end := indexByte(b, ']')
		if end < 0 {
			return netip.Addr{}, false
		}
		if rest := b[end+1:]; len(rest) > 0 && !isPort(rest) {
			return netip.Addr{}, false
		}
		b = b[1:end]
	} else if c := countByte(b, ':'); c == 1 {
		// v4:port; an IPv6 address has two colons at least.
		i := indexByte(b, ':')
		if !isPort(b[i:]) {
			return netip.Addr{}, false
		}
		b = b[:i]
	}
	if i := indexByte(b, '%'); i >= 0 {
		b = b[:i] // the zone names an interface of the sender's
	}
	if len(b) == 0 {
		return netip.Addr{}, false
	}
	// ParseAddr keeps no reference to its argument when there is no zone
	// and it succeeds (a failure's error holds it, and is dropped at
	// once), so the bytes are read in place instead of copied.
	a, err := netip.ParseAddr(unsafe.String(unsafe.SliceData(b), len(b)))
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// isPort says whether b is ":" and 1 to 5 digits.
func isPort(b []byte) bool {
	if len(b) < 2 || len(b) > 6 || b[0] != ':' {
		return false
	}
	for _, c := range b[1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// token returns the leading run of RFC 7230 token characters of b.
func token(b []byte) (tok, rest []byte) {
	i := 0
	for i < len(b) && isTokenChar(b[i]) {
		i++
	}
	return b[:i], b[i:]
}

func isTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// quoted reads a quoted-string at the start of b (b[0] is '"'): its
// text, in place when it holds no backslash escape (as an address never
// needs one), else unescaped into a copy. ok is false when it does not
// end, holds a control character, or is longer than a node can be.
func quoted(b []byte) (val, rest []byte, ok bool) {
	escaped := false
	for i := 1; i < len(b); i++ {
		c := b[i]
		switch {
		case c == '"':
			if !escaped {
				return b[1:i], b[i+1:], true
			}
			return unescape(b[1:i]), b[i+1:], true
		case c == '\\':
			if i+1 >= len(b) {
				return nil, nil, false
			}
			escaped = true
			i++
			c = b[i]
		}
		if c < ' ' && c != '\t' || c == 0x7f || i > 2*maxNode {
			return nil, skipQuoted(b), false
		}
	}
	return nil, nil, false
}

// unescape undoes a quoted-string's quoted-pairs (\x is x).
func unescape(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] == '\\' && i+1 < len(b) {
			i++
		}
		out = append(out, b[i])
	}
	return out
}

// skipQuoted returns what follows the quoted-string at the start of b, or
// nil when it does not end.
func skipQuoted(b []byte) []byte {
	for i := 1; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return b[i+1:]
		}
	}
	return nil
}

// skipPair skips to the next ';' or ',' outside quotes.
func skipPair(b []byte) []byte {
	for len(b) > 0 {
		switch b[0] {
		case ';', ',':
			return b
		case '"':
			b = skipQuoted(b)
			continue
		}
		b = b[1:]
	}
	return b
}

func equalFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := range b {
		c := b[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

func indexByte(b []byte, c byte) int {
	for i := range b {
		if b[i] == c {
			return i
		}
	}
	return -1
}

func countByte(b []byte, c byte) int {
	n := 0
	for i := range b {
		if b[i] == c {
			n++
		}
	}
	return n
}

func trimLeft(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	return b
}

func trimSpace(b []byte) []byte {
	b = trimLeft(b)
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}
