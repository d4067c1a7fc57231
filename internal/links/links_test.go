package links

import (
	"net/url"
	"regexp"
	"strings"
	"testing"
)

func TestRewriteSignsEveryWebLink(t *testing.T) {
	s, err := NewSigner("0123456789abcdef")
	if err != nil {
		t.Fatal(err)
	}
	in := `<html><body><p><a href="https://shop.example/sale?x=1&amp;y=2">Sale</a>
<a class=b href='http://shop.example/new'>New</a> <a href="mailto:help@shop.example">Mail</a>
<a href="https://shop.example/x?utm_campaign=own">Own</a></body></html>`
	out, ls, err := s.Rewrite(in, "https://t.shop.example/", "spring-26")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"https://shop.example/sale?utm_campaign=spring-26&utm_medium=email&utm_source=newsletter&x=1&y=2",
		"http://shop.example/new?utm_campaign=spring-26&utm_medium=email&utm_source=newsletter",
		"https://shop.example/x?utm_campaign=own&utm_medium=email&utm_source=newsletter",
	}
	if len(ls) != len(want) {
		t.Fatalf("links %+v", ls)
	}
	for i, l := range ls {
		if l.Target != want[i] {
			t.Errorf("link %d: %s, want %s", i+1, l.Target, want[i])
		}
	}
	if !strings.Contains(out, `href="mailto:help@shop.example"`) || strings.Contains(out, "https://shop.example/sale?x=1") {
		t.Errorf("rewritten:\n%s", out)
	}
	if !strings.Contains(out, `<img src="https://t.shop.example/o/{{ff_token}}.gif"`) || !strings.HasSuffix(out, "</body></html>") {
		t.Errorf("pixel missing or misplaced:\n%s", out)
	}
	// Every click link carries a signature that checks, and only for its target.
	clicks := regexp.MustCompile(`https://t\.shop\.example/c/\{\{ff_token\}\}/(\d+)\?u=([^&"']+)&amp;s=([^"']+)`).FindAllStringSubmatch(out, -1)
	if len(clicks) != 3 {
		t.Fatalf("%d click links in\n%s", len(clicks), out)
	}
	for _, c := range clicks {
		target, _ := url.QueryUnescape(c[2])
		if !s.CheckClick(c[1], target, c[3]) {
			t.Errorf("link %s: signature does not check", c[1])
		}
		if s.CheckClick(c[1], target+"&evil=1", c[3]) || s.CheckClick(c[1], "https://evil.example/", c[3]) {
			t.Errorf("link %s: signature checks for another target", c[1])
		}
	}
	other, _ := NewSigner("another-secret-16")
	if other.CheckClick("1", ls[0].Target, s.ClickSig("1", ls[0].Target)) {
		t.Error("a signature from another secret checks")
	}
	p := Personalize(out, "AAAAAAAAAAAAAAAAAAAAAA")
	if strings.Contains(p, TokenPlaceholder) || !strings.Contains(p, "/c/AAAAAAAAAAAAAAAAAAAAAA/1?") {
		t.Errorf("personalized:\n%s", p)
	}
	if _, _, err := s.Rewrite(in, "not a url", "c"); err == nil {
		t.Error("bad base accepted")
	}
}

func TestTokensAndUnsubscribe(t *testing.T) {
	s, _ := NewSigner("0123456789abcdef")
	tok := NewToken()
	if !ValidToken([]byte(tok)) || tok == NewToken() {
		t.Fatalf("token %q", tok)
	}
	for _, bad := range []string{"", "short", tok + "x", strings.Repeat("%", TokenLen)} {
		if ValidToken([]byte(bad)) {
			t.Errorf("%q valid", bad)
		}
	}
	u := s.UnsubscribeURL("https://t.example", tok)
	parsed, _ := url.Parse(u)
	if parsed.Path != "/u/"+tok || !s.CheckUnsubscribe(tok, parsed.Query().Get("s")) || s.CheckUnsubscribe(NewToken(), parsed.Query().Get("s")) {
		t.Errorf("unsubscribe %s", u)
	}
	if _, err := NewSigner("short"); err == nil {
		t.Error("short secret accepted")
	}
}
