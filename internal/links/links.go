// Package links makes and checks the newsletter links: recipient tokens,
// click links signed with HMAC over their target (so the collector never
// redirects anywhere a newsletter did not link to), signed unsubscribe
// links, and the rewriting of a newsletter's HTML. The collector checks
// what the dashboards API and the CLI make, with the same -link-secret.
package links

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"hash"
	"strings"
	"sync"
)

// TokenLen is the length of a recipient token: 16 random bytes, base64url.
const TokenLen = 22

// NewToken returns a fresh opaque recipient token, random, which no
// Signer verifies: for a recipient of a collector without -link-secret.
// Signer.NewToken makes those the collector can tell from invented ones.
func NewToken() string {
	var b [16]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// ValidToken says whether t has a token's shape; it allocates nothing, for
// the collector's hot path.
func ValidToken(t []byte) bool {
	if len(t) != TokenLen {
		return false
	}
	for _, c := range t {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// UnverifiedProp is the prop (value "1") the collector gives an open or a
// click whose token it did not verify: a token of a token's shape the
// link secret did not make, an earlier version's (NewToken, random) or an
// invented one, or any token when it has no link secret. The processor
// keeps such an event only when a recipient has that token, and stores it
// without the prop.
const UnverifiedProp = "token_unverified"

// TokenPlaceholder stands for the recipient's token in rewritten HTML; the
// e-mail tool replaces it per recipient (a merge field), or Personalize
// does.
const TokenPlaceholder = "{{ff_token}}"

// Signer signs and checks links with one secret.
type Signer struct {
	secret []byte
	macs   sync.Pool // of *tokenMAC, for CheckToken
}

// NewSigner returns a Signer; the secret must be at least 16 bytes.
func NewSigner(secret string) (*Signer, error) {
	if len(secret) < 16 {
		return nil, errors.New("link secret shorter than 16 bytes")
	}
	s := &Signer{secret: []byte(secret)}
	s.macs.New = func() any { return &tokenMAC{h: hmac.New(sha256.New, s.secret)} }
	return s, nil
}

// A recipient token's 16 bytes are tokenRandom random bytes, then the
// first bytes of their HMAC: the collector checks a token without asking
// anyone, so an invented one (an open pixel fetched with made-up tokens)
// is never queued as an event. 80 random bits name a recipient; 48 bits
// of MAC make a guess right once in 2^48.
const tokenRandom = 10

var (
	tokenDomain = []byte("t\x00")
	// strictB64 refuses a token whose last character has stray low bits,
	// so that one token has one spelling.
	strictB64 = base64.RawURLEncoding.Strict()
)

// tokenMAC is CheckToken's working memory, pooled: a check allocates
// nothing.
type tokenMAC struct {
	h   hash.Hash
	raw [16]byte
	sum [sha256.Size]byte
}

// NewToken returns a fresh recipient token that CheckToken verifies.
func (s *Signer) NewToken() string {
	var b [16]byte
	rand.Read(b[:tokenRandom])
	m := hmac.New(sha256.New, s.secret)
	m.Write(tokenDomain)
	m.Write(b[:tokenRandom])
	copy(b[tokenRandom:], m.Sum(nil))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// CheckToken says whether tok is a token s made (NewToken), in constant
// time and without allocating, for the collector's open pixel.
func (s *Signer) CheckToken(tok []byte) bool {
	if !ValidToken(tok) {
		return false
	}
	m := s.macs.Get().(*tokenMAC)
	defer s.macs.Put(m)
	if n, err := strictB64.Decode(m.raw[:], tok); err != nil || n != len(m.raw) {
		return false
	}
	m.h.Reset()
	m.h.Write(tokenDomain)
	m.h.Write(m.raw[:tokenRandom])
	sum := m.h.Sum(m.sum[:0])
	return subtle.ConstantTimeCompare(sum[:len(m.raw)-tokenRandom], m.raw[tokenRandom:]) == 1
}

func (s *Signer) mac(parts ...string) string {
	m := hmac.New(sha256.New, s.secret)
	for _, p := range parts {
		m.Write([]byte(p))
		m.Write([]byte{0})
	}
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

// LinkIDLen is the length of a link's id.
const LinkIDLen = 12

var linkIDEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// LinkID is the id of campaign's link to target (its tagged URL, the one
// signed): 60 bits of SHA-256 over both, in lower-case base32. It depends
// on nothing else, so every rewrite of the campaign's mail (a second
// version, the text part, the API or the CLI) gives a target the id it
// had, and two targets never share an id (the odds are 1 in 10^18 for a
// pair) without any list of links kept between rewrites. The same target
// twice in one mail is one link: the report counts its clicks together.
func LinkID(campaign, target string) string {
	h := sha256.New()
	h.Write([]byte(campaign))
	h.Write([]byte{0})
	h.Write([]byte(target))
	return linkIDEncoding.EncodeToString(h.Sum(nil)[:8])[:LinkIDLen]
}

// ClickSig signs a link of a campaign to target. The token is left out so
// that one rewritten newsletter serves every recipient; swapping tokens
// gains nothing, and the target can never be changed.
func (s *Signer) ClickSig(linkID, target string) string { return s.mac("c", linkID, target) }

// CheckClick says whether sig is the signature of linkID and target.
func (s *Signer) CheckClick(linkID, target, sig string) bool {
	return hmac.Equal([]byte(sig), []byte(s.ClickSig(linkID, target)))
}

// UnsubscribeSig signs one recipient's unsubscribe link.
func (s *Signer) UnsubscribeSig(token string) string { return s.mac("u", token) }

// CheckUnsubscribe says whether sig signs token's unsubscribe link.
func (s *Signer) CheckUnsubscribe(token, sig string) bool {
	return hmac.Equal([]byte(sig), []byte(s.UnsubscribeSig(token)))
}

// UnsubscribeURL is a recipient's signed unsubscribe link.
func (s *Signer) UnsubscribeURL(base, token string) string {
	return strings.TrimSuffix(base, "/") + "/u/" + token + "?s=" + s.UnsubscribeSig(token)
}

// OpenURL is a recipient's open pixel.
func OpenURL(base, token string) string {
	return strings.TrimSuffix(base, "/") + "/o/" + token + ".gif"
}

// Personalize puts a recipient's token into rewritten HTML.
func Personalize(html, token string) string {
	return strings.ReplaceAll(html, TokenPlaceholder, token)
}

// WithRecipient returns target with the recipient's token added as the
// query parameter ff_rt, before any fragment: a parameter after the "#"
// is not sent to the site, and would break the anchor besides.
func WithRecipient(target, token string) string {
	path, frag, hasFrag := strings.Cut(target, "#")
	sep := "?"
	if i := strings.IndexByte(path, '?'); i >= 0 {
		sep = "&"
		if i == len(path)-1 || path[len(path)-1] == '&' {
			sep = ""
		}
	}
	out := path + sep + "ff_rt=" + token
	if hasFrag {
		out += "#" + frag
	}
	return out
}
