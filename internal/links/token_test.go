package links

import (
	"net/url"
	"strings"
	"testing"
)

// TestSignedTokens: a token a Signer made verifies with it and with no
// other; a random token, one changed in any character or spelled with
// stray bits does not; checking allocates nothing.
func TestSignedTokens(t *testing.T) {
	s, _ := NewSigner("0123456789abcdef")
	other, _ := NewSigner("fedcba9876543210")
	tok := s.NewToken()
	if !ValidToken([]byte(tok)) || !s.CheckToken([]byte(tok)) || other.CheckToken([]byte(tok)) || tok == s.NewToken() {
		t.Fatalf("token %q", tok)
	}
	misses := 0
	for range 1000 {
		if s.CheckToken([]byte(NewToken())) {
			misses++
		}
	}
	if misses > 0 {
		t.Errorf("%d random tokens of 1000 verify", misses)
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for i := range len(tok) {
		for _, c := range []byte(alphabet) {
			if c == tok[i] {
				continue
			}
			changed := tok[:i] + string(c) + tok[i+1:]
			if s.CheckToken([]byte(changed)) {
				t.Errorf("%s (character %d changed) verifies", changed, i)
			}
		}
	}
	for _, bad := range []string{"", "short", tok + "x", tok[:TokenLen-1] + "!", TokenPlaceholder} {
		if s.CheckToken([]byte(bad)) {
			t.Errorf("%q verifies", bad)
		}
	}
	if n := testing.AllocsPerRun(1000, func() { s.CheckToken([]byte(tok)) }); n != 0 {
		t.Errorf("CheckToken allocates %v times", n)
	}
}

// FuzzLinks: signing and checking never panic, a link checks with its
// own signature only, and a token or link changed does not check.
func FuzzLinks(f *testing.F) {
	f.Add("AbCdEfGhIjKlMnOpQrStUv", "abcdefghijkl", "https://shop.example/p?a=1#x", "sig")
	f.Add("", "", "", "")
	f.Add("{{ff_token}}", "3", "javascript:alert(1)", "AAAAAAAAAAAAAAAAAAAAAA")
	f.Add(strings.Repeat("\xff", 22), "\x00", "https://xn--caf-dma.example/%zz", "==")
	f.Fuzz(func(t *testing.T, tok, link, target, sig string) {
		s, _ := NewSigner("0123456789abcdef")
		if s.CheckClick(link, target, s.ClickSig(link, target)) != true {
			t.Fatal("a click link does not check with its own signature")
		}
		if sig != s.ClickSig(link, target) && s.CheckClick(link, target, sig) {
			t.Fatalf("signature %q checks for %q %q", sig, link, target)
		}
		if s.CheckClick(link+"x", target, s.ClickSig(link, target)) || s.CheckClick(link, target+"x", s.ClickSig(link, target)) {
			t.Fatal("a changed link checks")
		}
		if !s.CheckUnsubscribe(tok, s.UnsubscribeSig(tok)) || s.CheckUnsubscribe(tok+"x", s.UnsubscribeSig(tok)) {
			t.Fatal("unsubscribe signature")
		}
		if sig != s.UnsubscribeSig(tok) && s.CheckUnsubscribe(tok, sig) {
			t.Fatalf("signature %q checks for %q", sig, tok)
		}
		u, err := url.Parse(s.UnsubscribeURL("https://t.example", tok))
		if err == nil && ValidToken([]byte(tok)) && u.Query().Get("s") != s.UnsubscribeSig(tok) {
			t.Fatalf("unsubscribe URL %s", u)
		}
		if s.CheckToken([]byte(tok)) && !ValidToken([]byte(tok)) {
			t.Fatalf("%q verifies without a token's shape", tok)
		}
		if s.CheckToken([]byte(tok)) {
			t.Logf("guessed a token: %q", tok) // 1 in 2^48: worth a look
		}
		if nt := s.NewToken(); !s.CheckToken([]byte(nt)) {
			t.Fatalf("new token %q does not verify", nt)
		}
		// A mail rewritten: every link it tracks carries its own signature.
		html := `<a href="` + target + `">x</a><a href="https://shop.example/` + link + `">y</a>` + tok
		if out, err := s.Rewrite(html, "https://c.example", "c"); err == nil {
			for _, l := range out.Links {
				if !strings.Contains(out.HTML, s.ClickSig(l.ID, l.Target)) {
					t.Fatalf("link %+v rewritten without its signature:\n%s", l, out.HTML)
				}
			}
		}
		_ = WithRecipient(target, tok)
		_ = LinkID(link, target)
		_ = MergeField(target)
	})
}
