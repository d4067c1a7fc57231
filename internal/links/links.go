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
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// TokenLen is the length of a recipient token: 16 random bytes, base64url.
const TokenLen = 22

// NewToken returns a fresh opaque recipient token.
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

// TokenPlaceholder stands for the recipient's token in rewritten HTML; the
// e-mail tool replaces it per recipient (a merge field), or Personalize
// does.
const TokenPlaceholder = "{{ff_token}}"

// Signer signs and checks links with one secret.
type Signer struct {
	secret []byte
}

// NewSigner returns a Signer; the secret must be at least 16 bytes.
func NewSigner(secret string) (*Signer, error) {
	if len(secret) < 16 {
		return nil, errors.New("link secret shorter than 16 bytes")
	}
	return &Signer{secret: []byte(secret)}, nil
}

func (s *Signer) mac(parts ...string) string {
	m := hmac.New(sha256.New, s.secret)
	for _, p := range parts {
		m.Write([]byte(p))
		m.Write([]byte{0})
	}
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
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

// Link is one link found in a newsletter.
type Link struct {
	ID     string `json:"id"`
	Target string `json:"target"`
}

var href = regexp.MustCompile(`(?i)(<a\b[^>]*?\bhref\s*=\s*)("([^"]*)"|'([^']*)')`)

// Rewrite returns html with every http(s) link replaced by a signed click
// link through base (the collector's public address), UTM tags added to
// the target (source newsletter, medium email, campaign), and an open
// pixel before </body>. Links are numbered in order of appearance; the
// token is TokenPlaceholder.
func (s *Signer) Rewrite(html, base, campaign string) (string, []Link, error) {
	base = strings.TrimSuffix(base, "/")
	if _, err := url.ParseRequestURI(base); err != nil || !strings.HasPrefix(base, "http") {
		return "", nil, fmt.Errorf("collector base URL %q: want http(s)://host", base)
	}
	var links []Link
	var firstErr error
	out := href.ReplaceAllStringFunc(html, func(m string) string {
		g := href.FindStringSubmatch(m)
		raw, quote := g[3], `"`
		if g[4] != "" || strings.HasPrefix(g[2], "'") {
			raw, quote = g[4], `'`
		}
		target := unescapeAttr(raw)
		if !strings.HasPrefix(target, "http://") && !strings.HasPrefix(target, "https://") {
			return m // mailto:, tel:, anchors stay as they are
		}
		tagged, err := tag(target, campaign)
		if err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("link %q: %w", target, err)
			}
			return m
		}
		id := strconv.Itoa(len(links) + 1)
		links = append(links, Link{ID: id, Target: tagged})
		click := base + "/c/" + TokenPlaceholder + "/" + id + "?u=" + url.QueryEscape(tagged) + "&s=" + s.ClickSig(id, tagged)
		return g[1] + quote + escapeAttr(click) + quote
	})
	if firstErr != nil {
		return "", nil, firstErr
	}
	pixel := `<img src="` + escapeAttr(OpenURL(base, TokenPlaceholder)) + `" width="1" height="1" alt="" style="display:block;border:0">`
	if i := strings.LastIndex(strings.ToLower(out), "</body>"); i >= 0 {
		out = out[:i] + pixel + out[i:]
	} else {
		out += pixel
	}
	return out, links, nil
}

// Personalize puts a recipient's token into rewritten HTML.
func Personalize(html, token string) string {
	return strings.ReplaceAll(html, TokenPlaceholder, token)
}

// tag adds the campaign's UTM tags to target unless it has its own.
func tag(target, campaign string) (string, error) {
	u, err := url.Parse(target)
	if err != nil || u.Host == "" {
		return "", errors.New("not an absolute URL")
	}
	q := u.Query()
	for k, v := range map[string]string{"utm_source": "newsletter", "utm_medium": "email", "utm_campaign": campaign} {
		if q.Get(k) == "" {
			q.Set(k, v)
		}
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

func unescapeAttr(s string) string {
	return strings.NewReplacer("&amp;", "&", "&#38;", "&", "&quot;", `"`, "&#39;", "'").Replace(s)
}

func escapeAttr(s string) string {
	return strings.NewReplacer("&", "&amp;", `"`, "&quot;", "'", "&#39;", "<", "&lt;", ">", "&gt;").Replace(s)
}
