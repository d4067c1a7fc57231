package sdkjs

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"footfall/internal/event"
)

// TestSnippetKeepsTheProcessorsCampaignParams holds the snippet's campaign
// parameters (CAMPAIGN in src/core.js) to the Go side's one definition,
// event.LandingParam: the parameters a shortened URL keeps, the collector
// takes as keys of a hit and the processor reads from a landing URL. The
// snippet sends the landing's with every event of the session, under
// their names in lower case, so the two must agree both ways: a parameter
// the snippet missed would be lost after the landing page (and start no
// session), and one it took that the collector does not know would have
// every event of the session refused. The names are not copied here: every
// word in a string of the Go sources that define and read them is asked to
// both sides, also with a letter before and after it and padded to 32 and
// 33 bytes (for the rules by prefix, suffix and length) and in upper case,
// so a parameter added on the Go side fails this test until the snippet
// takes it too.
func TestSnippetKeepsTheProcessorsCampaignParams(t *testing.T) {
	var names []string
	seen := map[string]bool{}
	add := func(n string) {
		if !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	word := regexp.MustCompile(`[A-Za-z0-9_]+`)
	for _, dir := range []string{"../internal/event", "../processor/enrich", "../collector/beacon"} {
		for _, lit := range stringLiterals(t, dir) {
			for _, w := range word.FindAllString(lit, -1) {
				if len(w) > 40 {
					continue
				}
				variants := []string{w, "x" + w, w + "x"}
				if len(w) < 32 {
					// The longest name LandingParam takes, and one byte over.
					variants = append(variants, strings.Repeat("x", 32-len(w))+w, strings.Repeat("x", 33-len(w))+w,
						w+strings.Repeat("x", 32-len(w)), w+strings.Repeat("x", 33-len(w)))
				}
				for _, n := range variants {
					add(strings.ToLower(n))
					add(strings.ToUpper(n))
				}
			}
		}
	}
	sort.Strings(names)

	got := snippetCampaigns(t, names)
	var kept, clicks int
	for _, n := range names {
		p := event.LandingParam(n)
		snip := got[n]
		switch {
		case p != nil && (len(snip) != 1 || snip[strings.ToLower(n)] != "V1"):
			t.Errorf("%s: a campaign parameter (%+v) the snippet does not keep (CAMPAIGN in src/core.js): it reads %v", n, *p, snip)
		case p == nil && len(snip) != 0:
			t.Errorf("%s: the snippet keeps it (%v), but it is no campaign parameter: the collector would refuse the session's events", n, snip)
		}
		if p != nil {
			kept++
			if p.Kind == event.ParamClickID {
				clicks++
			}
		}
	}
	// The words found must include the lists: guard against a search that
	// found nothing (files moved) and so checked nothing.
	if kept < 40 || clicks < 15 {
		t.Fatalf("only %d campaign parameters (%d click ids) found in the Go sources: has the definition moved?", kept, clicks)
	}
	t.Logf("%d names asked, %d campaign parameters, %d click ids", len(names), kept, clicks)
}

// stringLiterals returns the string literals of dir's Go files, tests
// left out.
func stringLiterals(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no Go files in %s: %v", dir, err)
	}
	var out []string
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if b, ok := n.(*ast.BasicLit); ok && b.Kind == token.STRING {
				if s, err := strconv.Unquote(b.Value); err == nil {
					out = append(out, s)
				}
			}
			return true
		})
	}
	return out
}

// snippetCampaigns runs campaignOf from src/core.js in Node on a landing
// URL with each name set to V1.
func snippetCampaigns(t *testing.T, names []string) map[string]map[string]string {
	t.Helper()
	in, _ := json.Marshal(names)
	const script = `
import { campaignOf } from "./src/core.js";
import { readFileSync } from "node:fs";
const out = {};
for (const n of JSON.parse(readFileSync(0, "utf8"))) out[n] = campaignOf("https://shop.example/p?" + n + "=V1") || {};
console.log(JSON.stringify(out));`
	cmd := exec.Command("node", "--input-type=module", "-e", script)
	cmd.Stdin = strings.NewReader(string(in))
	cmd.Stderr = os.Stderr
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v", err)
	}
	var got map[string]map[string]string
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("node printed %q: %v", b, err)
	}
	return got
}
