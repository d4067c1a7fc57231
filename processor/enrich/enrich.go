// Package enrich derives what reports group by from a raw event: URL host
// and path, traffic source and medium from the referrer or campaign tags,
// and browser, OS and device class from the user agent.
package enrich

import (
	"net/url"
	"strings"

	"footfall/internal/event"
	"footfall/internal/geoip"
	"footfall/internal/useragent"
)

// Result is what Enrich adds to an event. Its strings may share memory with
// the event's buffers.
type Result struct {
	URLHost, URLPath    string
	ReferrerHost        string
	Source, Medium      string
	UTMSource           string
	UTMMedium           string
	UTMCampaign         string
	UTMTerm, UTMContent string
	Affiliate, ClickID  string
	UA                  useragent.Info
	Country             string // ISO 3166 code, with a GeoIP database
	// UserID is normalised (see event.NormalizeUser); VisitorID falls back
	// to event.UserVisitorPrefix + UserID when the event has none.
	UserID, VisitorID string
	// RecipientToken is the ff_rt landing parameter a newsletter click
	// adds: the processor turns it into the recipient's user id.
	RecipientToken string
}

// Enricher keeps a user-agent cache, and one of countries when it has a
// GeoIP database; one per goroutine, it is not locked.
type Enricher struct {
	ua      cache[useragent.Info]
	geo     *geoip.DB
	country cache[string]
}

// New returns an Enricher caching up to cacheSize user agents. Real traffic
// has few distinct user agents, so most lookups hit.
func New(cacheSize int) *Enricher {
	if cacheSize <= 0 {
		cacheSize = 10000
	}
	return &Enricher{ua: newCache[useragent.Info](cacheSize), country: newCache[string](cacheSize)}
}

// UseGeoIP makes the enricher fill Result.Country from db.
func (en *Enricher) UseGeoIP(db *geoip.DB) { en.geo = db }

// Enrich fills r from e.
func (en *Enricher) Enrich(e *event.Event, r *Result) {
	*r = Result{
		UTMSource: s(e, event.UTMSource), UTMMedium: s(e, event.UTMMedium),
		UTMCampaign: s(e, event.UTMCampaign), UTMTerm: s(e, event.UTMTerm),
		UTMContent: s(e, event.UTMContent), Affiliate: s(e, event.Affiliate),
		ClickID: s(e, event.ClickID),
	}
	u := splitURL(s(e, event.URL))
	r.URLHost, r.URLPath = u.host, u.path
	if r.URLPath == "" && r.URLHost != "" {
		r.URLPath = "/"
	}
	var ref string // the ref= landing parameter, a source name by convention
	var clickKind string
	eachParam(u.query, func(k, v string) {
		switch k {
		case "utm_source":
			setIfEmpty(&r.UTMSource, v)
		case "utm_medium":
			setIfEmpty(&r.UTMMedium, v)
		case "utm_campaign":
			setIfEmpty(&r.UTMCampaign, v)
		case "utm_term":
			setIfEmpty(&r.UTMTerm, v)
		case "utm_content":
			setIfEmpty(&r.UTMContent, v)
		case "aff", "affiliate", "affiliate_id":
			setIfEmpty(&r.Affiliate, v)
		case "gclid", "msclkid", "fbclid":
			if r.ClickID == "" {
				r.ClickID, clickKind = v, k
			}
		case "ref":
			ref = v
		case "ff_rt":
			r.RecipientToken = v
		}
	})
	rh := splitURL(s(e, event.Referrer)).host
	r.ReferrerHost = rh
	r.Source, r.Medium = source(r, ref, clickKind, rh)
	// A shop's backend and a newsletter's pixel or link have no browser to
	// judge: the server API is trusted, and e-mail events are told apart by
	// their own rules (campaigns.OpenKind), so neither is ever a bot here.
	if e.Ingest != event.IngestAPI && e.Ingest != event.IngestEmail {
		r.UA = en.userAgent(s(e, event.UserAgent))
	}
	if ip := s(e, event.IP); en.geo != nil && ip != "" {
		r.Country = en.country.get(ip, en.geo.Country)
	}
	r.UserID = event.NormalizeUser(s(e, event.UserID))
	r.VisitorID = s(e, event.VisitorID)
	if r.VisitorID == "" && r.UserID != "" {
		r.VisitorID = event.UserVisitorPrefix + r.UserID
	}
}

// source picks the traffic source and medium, most explicit signal first.
func source(r *Result, ref, clickKind, refHost string) (string, string) {
	switch {
	case r.UTMSource != "":
		return strings.ToLower(r.UTMSource), orDefault(strings.ToLower(r.UTMMedium), "(not set)")
	case clickKind == "gclid":
		return "google", "cpc"
	case clickKind == "msclkid":
		return "bing", "cpc"
	case ref != "":
		return strings.ToLower(ref), "referral"
	case refHost == "":
		return "(direct)", "(none)"
	case refHost == r.URLHost:
		return "(internal)", "(internal)"
	}
	h := strings.TrimPrefix(refHost, "www.")
	for _, k := range knownReferrers {
		if h == k.host || strings.HasSuffix(h, "."+k.host) || (k.prefix && strings.HasPrefix(h, k.host)) {
			return k.source, k.medium
		}
	}
	return h, "referral"
}

type known struct {
	host           string
	prefix         bool // match "google." in google.fr, google.co.uk
	source, medium string
}

// Webmail first: mail.google.com is not Google search.
var knownReferrers = []known{
	{"mail.google.com", false, "gmail", "email"},
	{"outlook.live.com", false, "outlook", "email"},
	{"mail.yahoo.com", false, "yahoo mail", "email"},
	{"google.", true, "google", "organic"},
	{"bing.com", false, "bing", "organic"},
	{"duckduckgo.com", false, "duckduckgo", "organic"},
	{"search.yahoo.com", false, "yahoo", "organic"},
	{"ecosia.org", false, "ecosia", "organic"},
	{"qwant.com", false, "qwant", "organic"},
	{"baidu.com", false, "baidu", "organic"},
	{"yandex.", true, "yandex", "organic"},
	{"startpage.com", false, "startpage", "organic"},
	{"facebook.com", false, "facebook", "social"},
	{"l.facebook.com", false, "facebook", "social"},
	{"instagram.com", false, "instagram", "social"},
	{"t.co", false, "twitter", "social"},
	{"twitter.com", false, "twitter", "social"},
	{"x.com", false, "twitter", "social"},
	{"linkedin.com", false, "linkedin", "social"},
	{"lnkd.in", false, "linkedin", "social"},
	{"pinterest.", true, "pinterest", "social"},
	{"reddit.com", false, "reddit", "social"},
	{"youtube.com", false, "youtube", "social"},
	{"tiktok.com", false, "tiktok", "social"},
}

func (en *Enricher) userAgent(ua string) useragent.Info { return en.ua.get(ua, useragent.Parse) }

// cache remembers what a function computed for a key. Two generations bound
// it without an LRU list: when the young one is full it becomes the old
// one, and what is still used moves back.
type cache[V any] struct {
	young, old map[string]V
	max        int
}

func newCache[V any](max int) cache[V] { return cache[V]{young: make(map[string]V), max: max} }

func (c *cache[V]) get(key string, compute func(string) V) V {
	if v, ok := c.young[key]; ok {
		return v
	}
	v, ok := c.old[key]
	if !ok {
		v = compute(key)
	}
	if len(c.young) >= c.max {
		c.old, c.young = c.young, make(map[string]V, c.max)
	}
	c.young[strings.Clone(key)] = v // key points into a Kafka message
	return v
}

type urlParts struct{ host, path, query string }

// splitURL cuts an absolute URL into host (lower-case, without port or
// credentials), path and query, without url.Parse's allocations.
func splitURL(raw string) urlParts {
	var p urlParts
	i := strings.Index(raw, "://")
	if i < 0 {
		return p
	}
	rest := raw[i+3:]
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	host := rest[:end]
	if at := strings.LastIndexByte(host, '@'); at >= 0 {
		host = host[at+1:]
	}
	if c := strings.LastIndexByte(host, ':'); c >= 0 && !strings.Contains(host[c:], "]") {
		host = host[:c]
	}
	p.host = lower(host)
	rest = rest[end:]
	if h := strings.IndexByte(rest, '#'); h >= 0 {
		rest = rest[:h]
	}
	if q := strings.IndexByte(rest, '?'); q >= 0 {
		p.path, p.query = rest[:q], rest[q+1:]
	} else {
		p.path = rest
	}
	return p
}

func eachParam(query string, f func(k, v string)) {
	for query != "" {
		var kv string
		kv, query, _ = strings.Cut(query, "&")
		k, v, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(k, "utm_") && k != "aff" && k != "affiliate" && k != "affiliate_id" &&
			k != "gclid" && k != "msclkid" && k != "fbclid" && k != "ref" && k != "ff_rt" {
			continue
		}
		if u, err := url.QueryUnescape(v); err == nil {
			v = u
		}
		if v != "" {
			f(k, v)
		}
	}
}

func lower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}

func setIfEmpty(dst *string, v string) {
	if *dst == "" {
		*dst = v
	}
}

func orDefault(v, d string) string {
	if v == "" {
		return d
	}
	return v
}

// s views a field as a string without copying; see Result.
func s(e *event.Event, f event.Field) string { return unsafeString(e.F[f]) }
