package enrich

import (
	"embed"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
	"golang.org/x/net/publicsuffix"
)

// The search engines, social networks and AI assistants that referrals come
// from are Matomo's community-maintained list (matomo-org/
// searchengine-and-social-list, CC0), embedded as its files are: to update,
// copy SearchEngines.yml, Socials.yml and AIAssistants.yml of a newer
// release into referrers/ and run this package's tests (referrers/README.md).
//
//go:embed referrers/SearchEngines.yml referrers/Socials.yml referrers/AIAssistants.yml
var referrerFiles embed.FS

// A known referrer: its source (the list's name, lower case) and medium.
type referrerEntry struct {
	source, medium string
	// subdomains: any subdomain is the same site (a social network's
	// l.facebook.com, old.reddit.com), which is not true of search engines
	// (docs.google.com is no Google search).
	subdomains bool
	path       string // for an entry such as google.com/imgres: the path's start
}

// referrerDB finds a referrer host in the lists. Keys are hosts without
// "www.", some with Matomo's {} placeholder for a country code
// (google.{}, {}.search.yahoo.com); Android package names are keys too.
type referrerDB struct {
	hosts   map[string]referrerEntry
	paths   map[string][]referrerEntry // hosts with entries that need a path
	maxPath int                        // the longest listed path
}

// referrers is the database every Enricher reads; it never changes after
// start.
var referrers = mustLoadReferrers()

func mustLoadReferrers() *referrerDB {
	db, err := loadReferrers()
	if err != nil {
		panic("enrich: the embedded referrer lists: " + err.Error())
	}
	return db
}

func loadReferrers() (*referrerDB, error) {
	db := &referrerDB{hosts: make(map[string]referrerEntry), paths: make(map[string][]referrerEntry)}
	// AI assistants first, then social networks, then search engines: a
	// host in two lists (chatgpt.com, www.facebook.com) is the first's.
	var ai, social map[string][]string
	if err := readYAML("referrers/AIAssistants.yml", &ai); err != nil {
		return nil, err
	}
	if err := readYAML("referrers/Socials.yml", &social); err != nil {
		return nil, err
	}
	var search map[string][]struct {
		URLs []string `yaml:"urls"`
	}
	if err := readYAML("referrers/SearchEngines.yml", &search); err != nil {
		return nil, err
	}
	// Names in order, so that a host two names list is always the same's.
	for _, name := range slices.Sorted(maps.Keys(ai)) {
		db.add(ai[name], referrerEntry{source: sourceName(name), medium: "ai", subdomains: true})
	}
	for _, name := range slices.Sorted(maps.Keys(social)) {
		db.add(social[name], referrerEntry{source: sourceName(name), medium: "social", subdomains: true})
	}
	for _, name := range slices.Sorted(maps.Keys(search)) {
		for _, d := range search[name] {
			db.add(d.URLs, referrerEntry{source: sourceName(name), medium: "organic"})
		}
	}
	if len(db.hosts) < 500 {
		return nil, fmt.Errorf("%d hosts, the lists hold over 800", len(db.hosts))
	}
	return db, nil
}

func readYAML(name string, v any) error {
	b, err := referrerFiles.ReadFile(name)
	if err != nil {
		return err
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// add files e under each of urls; an entry already there stays (see the
// order in loadReferrers). Matomo's android-app//... keys are left out:
// android-app:// referrers are found by their package name.
func (db *referrerDB) add(urls []string, e referrerEntry) {
	for _, u := range urls {
		u = strings.ToLower(strings.TrimSpace(u))
		if u == "" || strings.Contains(u, "//") {
			continue
		}
		host, path, hasPath := strings.Cut(u, "/")
		host = strings.TrimPrefix(host, "www.")
		if hasPath {
			pe := e
			pe.path = "/" + path
			db.paths[host] = append(db.paths[host], pe)
			db.maxPath = max(db.maxPath, len(pe.path))
			continue
		}
		if _, taken := db.hosts[host]; !taken {
			db.hosts[host] = e
		}
	}
}

// sourceName is the source a list's name gives: lower case, as tags are
// compared (Google is google, like utm_source=google), without the
// exclamation marks of some names (Yahoo! is yahoo) and with escapes
// decoded (Google%2B is google+).
func sourceName(name string) string {
	if u, err := url.PathUnescape(name); err == nil {
		name = u
	}
	return strings.TrimSpace(strings.ReplaceAll(strings.ToLower(name), "!", ""))
}

// lookup finds a referrer's host (canonical: lower case, Unicode) and path
// in the lists: the host as it is, then without a www. or m. label, then
// with its country code in {} (google.co.uk is google.{}, de.search.yahoo.com
// {}.search.yahoo.com); then its parent domains, for social networks and AI
// assistants, whose every subdomain is theirs.
func (db *referrerDB) lookup(host, path string) (referrerEntry, bool) {
	e, ok, _ := db.find(host, path)
	return e, ok
}

// find is lookup, and whether the answer depends on the path (the host has
// entries with a path), which an answer cached by host must not.
func (db *referrerDB) find(host, path string) (e referrerEntry, ok, byPath bool) {
	h := strings.TrimPrefix(host, "www.")
	for _, cand := range []string{h, stripMirror(h)} {
		if e, ok = db.match(cand, path, false, &byPath); ok {
			return e, true, byPath
		}
	}
	// Parent domains, down to the registrable one.
	site, err := publicsuffix.EffectiveTLDPlusOne(h)
	if err != nil {
		return referrerEntry{}, false, byPath
	}
	for d := h; len(d) > len(site); {
		_, d, _ = strings.Cut(d, ".")
		if e, ok = db.match(d, path, true, &byPath); ok {
			return e, true, byPath
		}
	}
	return referrerEntry{}, false, byPath
}

// match looks h up as it is and with its country code as {}; parent asks
// for entries that cover their subdomains. byPath is set when h has
// entries with a path.
func (db *referrerDB) match(h, path string, parent bool, byPath *bool) (referrerEntry, bool) {
	if h == "" {
		return referrerEntry{}, false
	}
	for _, k := range placeholders(h) {
		for _, e := range db.paths[k] {
			*byPath = true
			if strings.HasPrefix(path, e.path) && (!parent || e.subdomains) {
				return e, true
			}
		}
		if e, ok := db.hosts[k]; ok && (!parent || e.subdomains) {
			return e, true
		}
	}
	return referrerEntry{}, false
}

// placeholders is h, then h with its public suffix as {}, its first label
// as {} when that is a two-letter country code, and both.
func placeholders(h string) []string {
	out := []string{h}
	suffix, _ := publicsuffix.PublicSuffix(h)
	bySuffix := ""
	if suffix != h && strings.HasSuffix(h, "."+suffix) {
		bySuffix = h[:len(h)-len(suffix)] + "{}"
		out = append(out, bySuffix)
	}
	if first, rest, ok := strings.Cut(h, "."); ok && len(first) == 2 && isLetters(first) && strings.Contains(rest, ".") {
		out = append(out, "{}."+rest)
		if bySuffix != "" {
			out = append(out, "{}."+bySuffix[len(first)+1:])
		}
	}
	return out
}

// stripMirror drops a first label that only names a mobile or numbered
// mirror of a site (m.baidu.com, www2.google.com are listed; m.search.naver.com
// is search.naver.com).
func stripMirror(h string) string {
	first, rest, ok := strings.Cut(h, ".")
	if !ok || !strings.Contains(rest, ".") {
		return ""
	}
	switch {
	case first == "m", first == "mobile":
		return rest
	case strings.HasPrefix(first, "www") && isDigits(first[3:]) && len(first) > 3:
		return rest
	}
	return ""
}

func isLetters(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 'a' || s[i] > 'z' {
			return false
		}
	}
	return true
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
