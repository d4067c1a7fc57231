package main

import (
	"bytes"
	"strings"
	"testing"

	"footfall/internal/links"
)

// TestRewriteTellsWhatItLeftUntracked: the CLI signs what the API signs and
// names, a line each, every link it left as it was and why.
func TestRewriteTellsWhatItLeftUntracked(t *testing.T) {
	in := "<body>\n<a href=\"https://shop.example/p?a=1&amp;b=2#avis\">p</a>\n<a href=\"mailto:x@shop.example\">m</a>\n<a href=\"/rel\">r</a>\n</body>"
	var out, errs bytes.Buffer
	code := run([]string{"rewrite", "-campaign", "spring", "-link-secret", "0123456789abcdef", "-collector-url", "https://t.example"},
		strings.NewReader(in), &out, &errs)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs.String())
	}
	want := "https%3A%2F%2Fshop.example%2Fp%3Fa%3D1%26b%3D2%26utm_campaign%3Dspring%26utm_medium%3Demail%26utm_source%3Dnewsletter%23avis"
	id := links.LinkID("spring", "https://shop.example/p?a=1&b=2&utm_campaign=spring&utm_medium=email&utm_source=newsletter#avis")
	if !strings.Contains(out.String(), "https://t.example/c/{{ff_token}}/"+id+"?u="+want+"&amp;s=") {
		t.Errorf("out:\n%s", out.String())
	}
	lines := strings.Split(strings.TrimSpace(errs.String()), "\n")
	if len(lines) != 3 || lines[0] != "1 links signed, 2 left untracked" ||
		!strings.HasPrefix(lines[1], `line 3: "mailto:x@shop.example" untracked: not a web link (mailto)`) ||
		!strings.HasPrefix(lines[2], `line 4: "/rel" untracked: not an absolute URL`) {
		t.Errorf("stderr:\n%s", errs.String())
	}
	if code := run([]string{"rewrite", "-link-secret", "0123456789abcdef"}, strings.NewReader(in), &out, &errs); code != 1 {
		t.Errorf("no campaign: exit %d", code)
	}
}
