package links

import (
	"fmt"
	"strings"
	"testing"
)

// TestRewriteReplacesOtherTags: whatever source, medium or campaign a
// link's own query names, in whatever spelling the processor reads (any
// case, twice, Matomo's and Piwik's names), its target carries the
// campaign's tags and no other, so its visits are the campaign's; each
// replaced value is listed with its line. The rest of the query stays as
// written, and a tag already the campaign's stays where it is.
func TestRewriteReplacesOtherTags(t *testing.T) {
	s, _ := NewSigner("0123456789abcdef")
	cases := []struct{ query, want, retagged string }{
		{"utm_campaign=other", tags, "utm_campaign=other"},
		{"a=1&utm_campaign=other&b=2", "a=1&b=2&" + tags, "utm_campaign=other"},
		{"UTM_Campaign=other", tags, "UTM_Campaign=other"},
		{"utm_campaign=c&utm_campaign=other", tags, "utm_campaign=other"},
		{"utm_campaign=other&utm_campaign=c", tags, "utm_campaign=other"},
		{"mtm_campaign=m&pk_campaign=p&pk_cpn=q", tags, "mtm_campaign=m pk_campaign=p pk_cpn=q"},
		{"utm_source=partner&utm_medium=social&utm_term=shoes&utm_content=hero", "utm_term=shoes&utm_content=hero&" + tags, "utm_source=partner utm_medium=social"},
		{"utm_campaign=spring%20sale&x=%41", "x=%41&" + tags, "utm_campaign=spring sale"},
		{"utm_campaign=c&utm_medium=email&utm_source=newsletter", "utm_campaign=c&utm_medium=email&utm_source=newsletter", ""},
		{"utm_medium=email&x=1", "utm_medium=email&x=1&utm_campaign=c&utm_source=newsletter", ""},
		{"utm_campaign=", tags, "utm_campaign="},
		{"x=1&", "x=1&" + tags, ""},
	}
	for _, c := range cases {
		href := "https://shop.example/p?" + c.query
		res, err := s.Rewrite("<p>\n<a href=\""+escapeAttr(href)+"#top\">x</a>", "https://t.example", "c")
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Links) != 1 || res.Links[0].Target != "https://shop.example/p?"+c.want+"#top" {
			t.Errorf("?%s: %+v, want ?%s#top", c.query, res.Links, c.want)
		}
		var got []string
		for _, r := range res.Retagged {
			want := "c"
			switch tag := strings.ToLower(r.Tag); {
			case strings.HasSuffix(tag, "_source"):
				want = "newsletter"
			case strings.HasSuffix(tag, "_medium"):
				want = "email"
			}
			if r.Line != 2 || r.Href != href+"#top" || r.New != want {
				t.Errorf("?%s: retagged %+v", c.query, r)
			}
			got = append(got, fmt.Sprintf("%s=%s", r.Tag, r.Old))
		}
		if strings.Join(got, " ") != c.retagged {
			t.Errorf("?%s: retagged %v, want %s", c.query, got, c.retagged)
		}
	}
}
