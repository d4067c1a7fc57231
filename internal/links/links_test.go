package links

import (
	"net/url"
	"regexp"
	"strconv"
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
	res, err := s.Rewrite(in, "https://t.shop.example/", "spring-26")
	if err != nil {
		t.Fatal(err)
	}
	out, ls := res.HTML, res.Links
	want := []string{
		"https://shop.example/sale?x=1&y=2&utm_campaign=spring-26&utm_medium=email&utm_source=newsletter",
		"http://shop.example/new?utm_campaign=spring-26&utm_medium=email&utm_source=newsletter",
		"https://shop.example/x?utm_campaign=spring-26&utm_medium=email&utm_source=newsletter", // the campaign's id names its visits
	}
	if len(ls) != len(want) {
		t.Fatalf("links %+v", ls)
	}
	for i, l := range ls {
		if l.Target != want[i] {
			t.Errorf("link %d: %s, want %s", i+1, l.Target, want[i])
		}
	}
	if len(res.Retagged) != 1 || res.Retagged[0] != (Retagged{Line: 3, Href: "https://shop.example/x?utm_campaign=own", Tag: "utm_campaign", Old: "own", New: "spring-26"}) {
		t.Errorf("retagged %+v, want link 3's utm_campaign own", res.Retagged)
	}
	if !strings.Contains(out, `href="mailto:help@shop.example"`) || strings.Contains(out, "https://shop.example/sale?x=1") {
		t.Errorf("rewritten:\n%s", out)
	}
	if !strings.Contains(out, `<img src="https://t.shop.example/o/{{ff_token}}.gif"`) || !strings.HasSuffix(out, "</body></html>") {
		t.Errorf("pixel missing or misplaced:\n%s", out)
	}
	// Every click link carries a signature that checks, and only for its target.
	clicks := regexp.MustCompile(`https://t\.shop\.example/c/\{\{ff_token\}\}/([a-z2-7]{12})\?u=([^&"']+)&amp;s=([^"']+)`).FindAllStringSubmatch(out, -1)
	if len(clicks) != 3 {
		t.Fatalf("%d click links in\n%s", len(clicks), out)
	}
	for i, c := range clicks {
		target, _ := url.QueryUnescape(c[2])
		if c[1] != ls[i].ID || c[1] != LinkID("spring-26", target) {
			t.Errorf("link %d: id %s in the HTML, %s listed, want LinkID of its target", i+1, c[1], ls[i].ID)
		}
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
	if strings.Contains(p, TokenPlaceholder) || !strings.Contains(p, "/c/AAAAAAAAAAAAAAAAAAAAAA/"+ls[0].ID+"?") {
		t.Errorf("personalized:\n%s", p)
	}
	if _, err := s.Rewrite(in, "not a url", "c"); err == nil {
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

const tags = "utm_campaign=c&utm_medium=email&utm_source=newsletter"

// TestRewriteReadsHrefsAsBrowsers: each href's target is what a browser
// would follow: every character reference an attribute value may hold is
// decoded (named, decimal, hexadecimal, with or without ";" where HTML
// allows it), the site's own query stays as written, and the tags go
// before the fragment.
func TestRewriteReadsHrefsAsBrowsers(t *testing.T) {
	s, _ := NewSigner("0123456789abcdef")
	cases := []struct{ href, want string }{
		{`"https://shop.example/p?a=1&amp;b=2#avis"`, "https://shop.example/p?a=1&b=2&" + tags + "#avis"},
		{`"https://shop.example/p?a=1&#38;b=2"`, "https://shop.example/p?a=1&b=2&" + tags},
		{`"https://shop.example/p?a=1&#x26;b=2"`, "https://shop.example/p?a=1&b=2&" + tags},
		{`"https://shop.example/p?a=1&#X26;b=2"`, "https://shop.example/p?a=1&b=2&" + tags},
		{`"https://shop.example/p?a=1&#0038;b=2"`, "https://shop.example/p?a=1&b=2&" + tags},
		{`"https://shop.example/p?a=1&AMP;b=2"`, "https://shop.example/p?a=1&b=2&" + tags},
		{`"https://shop.example/p?a=1&amp b=2"`, "https://shop.example/p?a=1&%20b=2&" + tags},
		{`"https&#x3A;&#x2F;&#x2F;shop.example&sol;p&quest;q&equals;1"`, "https://shop.example/p?q=1&" + tags},
		{`"https://shop.example/p?a=1&copy=2&not=3&para=4"`, "https://shop.example/p?a=1&copy=2&not=3&para=4&" + tags}, // legacy names before "=" stay literal in attributes
		{`"https://shop.example/p?t=caf&eacute;"`, "https://shop.example/p?t=caf%C3%A9&" + tags},
		{`"https://shop.example/p?q=a b&lt;c&gt;"`, "https://shop.example/p?q=a%20b%3Cc%3E&" + tags},
		{`'https://shop.example/p?a=&quot;x&quot;'`, "https://shop.example/p?a=%22x%22&" + tags},
		{`https://shop.example/p?a=1&amp;b=2`, "https://shop.example/p?a=1&b=2&" + tags}, // unquoted
		{"\" https://shop.example/p\n?a=1\t \"", "https://shop.example/p?a=1&" + tags},
		{`"HTTPS://Shop.Example/p#/route?x=1"`, "https://Shop.Example/p?" + tags + "#/route?x=1"},
		{`"https://shop.example/p?utm_source=own&amp;utm_medium=sms"`, "https://shop.example/p?" + tags}, // the campaign's tags name its visits: TestRewriteReplacesOtherTags
	}
	for _, c := range cases {
		in := "<p>\n<a class=x data-href=\"https://evil.example/\" href=" + c.href + ">x</a>"
		res, err := s.Rewrite(in, "https://t.example", "c")
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Links) != 1 || res.Links[0].Target != c.want || res.Links[0].Line != 2 || len(res.Untracked) != 0 {
			t.Errorf("href=%s: %+v %+v, want %s", c.href, res.Links, res.Untracked, c.want)
			continue
		}
		if !strings.Contains(res.HTML, `data-href="https://evil.example/"`) {
			t.Errorf("href=%s: another attribute changed:\n%s", c.href, res.HTML)
		}
	}
}

// TestRewriteSaysWhatItLeftUntracked: every href left as it was is
// reported with its line and why; web links in Outlook's conditional
// comments are tracked.
func TestRewriteSaysWhatItLeftUntracked(t *testing.T) {
	s, _ := NewSigner("0123456789abcdef")
	in := `<html><body>
<a href="mailto:help@shop.example">mail</a>
<a href="tel:+331">call</a>
<a href="#top">top</a>
<a href="/relative">rel</a>
<a href="https://shop.example/?e={{email}}">merge</a>
<a href="*|UNSUB|*">mc</a>
<a href="">empty</a>
<a href="https://t.example/c/{{ff_token}}/1?u=x&amp;s=y">already</a>
<a href="javascript:void(0)">js</a>
<a name="anchor">no href, not a link</a>
<link href="https://shop.example/style.css" rel=stylesheet>
<!--[if mso]>
<v:roundrect href="https://shop.example/button"><![endif]-->
<!-- <a href="https://shop.example/commented-out"> -->
<map><area href="https://shop.example/area"></map>
<a href="https://shop.example/ok">ok</a>
</body></html>`
	res, err := s.Rewrite(in, "https://t.example", "c")
	if err != nil {
		t.Fatal(err)
	}
	wantUntracked := []struct {
		line   int
		href   string
		reason string
	}{
		{2, "mailto:help@shop.example", "not a web link (mailto)"},
		{3, "tel:+331", "not a web link (tel)"},
		{4, "#top", ReasonAnchor},
		{5, "/relative", ReasonRelative},
		{6, "https://shop.example/?e={{email}}", ReasonMergeField},
		{7, "*|UNSUB|*", ReasonMergeField},
		{8, "", ReasonEmpty},
		{9, "https://t.example/c/{{ff_token}}/1?u=x&s=y", ReasonMergeField},
		{10, "javascript:void(0)", "not a web link (javascript)"},
	}
	if len(res.Untracked) != len(wantUntracked) {
		t.Fatalf("untracked %+v", res.Untracked)
	}
	for i, w := range wantUntracked {
		u := res.Untracked[i]
		if u.Line != w.line || u.Href != w.href || !strings.HasPrefix(u.Reason, w.reason) {
			t.Errorf("untracked %d: %+v, want %+v", i, u, w)
		}
	}
	var got []string
	for _, l := range res.Links {
		got = append(got, strings.SplitN(l.Target, "?", 2)[0]+"@"+strconv.Itoa(l.Line))
	}
	if strings.Join(got, " ") != "https://shop.example/button@14 https://shop.example/area@16 https://shop.example/ok@17" {
		t.Errorf("tracked %v", got)
	}
	if !strings.Contains(res.HTML, `<!--[if mso]>
<v:roundrect href="https://t.example/c/{{ff_token}}/`+res.Links[0].ID+`?u=`) || !strings.Contains(res.HTML, `<!-- <a href="https://shop.example/commented-out"> -->`) ||
		!strings.Contains(res.HTML, `<link href="https://shop.example/style.css" rel=stylesheet>`) {
		t.Errorf("rewritten:\n%s", res.HTML)
	}
	// A link the e-mail tool has already tracked is named as such.
	res, _ = s.Rewrite(`<a href="https://t.example/c/AAAAAAAAAAAAAAAAAAAAAA/1?u=x">`, "https://t.example", "c")
	if len(res.Untracked) != 1 || res.Untracked[0].Reason != ReasonAlready {
		t.Errorf("already tracked: %+v", res.Untracked)
	}
}

// TestWithRecipient: the recipient's token is a query parameter, before
// any fragment, whatever the target's query and fragment hold.
func TestWithRecipient(t *testing.T) {
	for in, want := range map[string]string{
		"https://shop.example/p":                                "https://shop.example/p?ff_rt=T",
		"https://shop.example/p?a=1&utm_source=newsletter#avis": "https://shop.example/p?a=1&utm_source=newsletter&ff_rt=T#avis",
		"https://shop.example/p#avis":                           "https://shop.example/p?ff_rt=T#avis",
		"https://shop.example/p#/route?x=1":                     "https://shop.example/p?ff_rt=T#/route?x=1",
		"https://shop.example/p?#a#b":                           "https://shop.example/p?ff_rt=T#a#b",
		"https://shop.example/p?a=1&":                           "https://shop.example/p?a=1&ff_rt=T",
		"https://shop.example/p#":                               "https://shop.example/p?ff_rt=T#",
	} {
		if got := WithRecipient(in, "T"); got != want {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
		u, _ := url.Parse(WithRecipient(in, "T"))
		if u.Query().Get("ff_rt") != "T" {
			t.Errorf("%s: ff_rt not in the query", in)
		}
	}
}

// TestRewriteKeepsTheFragment: the fragment is the browser's and stays
// byte for byte, after the tags, whatever it holds; the signed target is
// the one the collector redirects to.
func TestRewriteKeepsTheFragment(t *testing.T) {
	s, _ := NewSigner("0123456789abcdef")
	for _, frag := range []string{"#a#b", "#avis", "#", "#50%off", "#caf%C3%A9", "#café", "#/route?x=1&y=%zz", "#:~:text=prix,total",
		"#a%23b", "#sect[2]", "#top?utm_source=x"} {
		for _, page := range []string{"https://shop.example/p", "https://shop.example/p?a=1&b=%2F", "https://shop.example/p?"} {
			res, err := s.Rewrite(`<a href="`+escapeAttr(page+frag)+`">x</a>`, "https://t.example", "c")
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Links) != 1 {
				t.Errorf("%s: %+v", page+frag, res.Untracked)
				continue
			}
			got := res.Links[0].Target
			if !strings.HasSuffix(got, "utm_source=newsletter"+frag) || strings.Count(got, "#") != strings.Count(frag, "#") {
				t.Errorf("%s: %s, want the tags then %s", page+frag, got, frag)
			}
			u, _ := url.Parse(regexp.MustCompile(`href="([^"]+)"`).FindStringSubmatch(res.HTML)[1])
			clickURL, _ := url.Parse(strings.ReplaceAll(u.String(), "&amp;", "&"))
			if q := clickURL.Query(); q.Get("u") != got || !s.CheckClick(res.Links[0].ID, q.Get("u"), q.Get("s")) {
				t.Errorf("%s: the click link carries %q, want %q signed", page+frag, q.Get("u"), got)
			}
			if r := WithRecipient(got, "T"); !strings.HasSuffix(r, "&ff_rt=T"+frag) {
				t.Errorf("%s: with the recipient, %s", page+frag, r)
			}
		}
	}
}

// TestLinkIDsAcrossRewrites: rewriting a campaign again (a second version,
// another part) gives each target the id it had, a new target a new id,
// and never one target's id to another; the same target twice in a mail
// is one link. Another campaign's links have other ids.
func TestLinkIDsAcrossRewrites(t *testing.T) {
	s, _ := NewSigner("0123456789abcdef")
	ids := func(campaign string, hrefs ...string) map[string][]string {
		t.Helper()
		var b strings.Builder
		for _, h := range hrefs {
			b.WriteString(`<a href="` + h + "\">x</a>\n")
		}
		res, err := s.Rewrite(b.String(), "https://t.example", campaign)
		if err != nil || len(res.Links) != len(hrefs) {
			t.Fatalf("%v %+v", err, res)
		}
		out := map[string][]string{}
		for i, l := range res.Links {
			if len(l.ID) != LinkIDLen || !strings.Contains(res.HTML, "/c/{{ff_token}}/"+l.ID+"?u=") {
				t.Errorf("link %d: id %q", i, l.ID)
			}
			out[hrefs[i]] = append(out[hrefs[i]], l.ID)
		}
		return out
	}
	const a, b, c, d = "https://shop.example/a", "https://shop.example/b", "https://shop.example/c", "https://shop.example/b#avis"
	v1 := ids("spring", a, b)
	v2 := ids("spring", c, b, a, a, d)
	text := ids("spring", b)
	if v1[a][0] != v2[a][0] || v1[b][0] != v2[b][0] || text[b][0] != v1[b][0] || v2[a][0] != v2[a][1] {
		t.Errorf("a target's id changed: v1 %v, v2 %v, text part %v", v1, v2, text)
	}
	seen := map[string]string{}
	for _, m := range []map[string][]string{v1, v2, text} {
		for href, list := range m {
			for _, id := range list {
				if other, ok := seen[id]; ok && other != href {
					t.Errorf("id %s names both %s and %s", id, other, href)
				}
				seen[id] = href
			}
		}
	}
	if len(seen) != 4 {
		t.Errorf("%d ids for 4 targets: %v", len(seen), seen)
	}
	if other := ids("autumn", a); other[a][0] == v1[a][0] {
		t.Errorf("two campaigns share link id %s", v1[a][0])
	}
}
