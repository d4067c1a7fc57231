package event

import "unicode/utf8"

// The query parameters of a landing URL that say where a visit came from,
// defined once: the collector keeps them when it shortens a long URL
// (AppendShortURL) and takes them as keys of a hit, and the processor reads
// them (processor/enrich) to name the visit's source and medium. The
// snippet's own pattern (sdk-js/src/core.js) is held to ClickIDs by a test.

// ParamKind is what a landing parameter tells.
type ParamKind uint8

const (
	// NotCampaign: a parameter of the page, not of the visit.
	NotCampaign ParamKind = iota
	// ParamTag is a campaign tag: utm_*, or Matomo's equivalents (mtm_*,
	// pk_campaign...). Param.Field is the field it fills, when it has one.
	ParamTag
	// ParamAffiliate names the affiliate (aff, affiliate, affiliate_id).
	ParamAffiliate
	// ParamRef is ref=, a source name by convention.
	ParamRef
	// ParamRecipient is ff_rt, the recipient token a newsletter link adds.
	ParamRecipient
	// ParamClickID is an ad platform's click id: the platform adds it to its
	// ad clicks (auto-tagging), so it names Source and Medium, and the id
	// is kept in the click_id field.
	ParamClickID
	// ParamPlatform is a platform's own tag that carries no click id (an
	// e-mail tool's, Google Ads' gad_source): it names Source and Medium.
	ParamPlatform
	// ParamKept is read by no rule but belongs with the campaign (gclsrc, a
	// campaign id, HubSpot's hsa_* ad tags, an unlisted platform's …clid):
	// kept in a shortened URL all the same.
	ParamKept
)

// Param is one landing parameter.
type Param struct {
	Name string // lower case; matched without regard to case
	Kind ParamKind
	// Field is the event field it fills, NumFields for none: a tag's
	// utm field, Affiliate, ClickID.
	Field Field
	// Source and Medium are what a click id or a platform's tag names.
	Source, Medium string
}

// ClickIDs are the click ids of the ad platforms, from each platform's
// documentation of its auto-tagging. fbclid is added by Facebook and
// Instagram to every outbound link, ads or not, so it says social; srsltid
// (Google's free shopping listings) and ysclid (Yandex search) mark organic
// results.
var ClickIDs = []Param{
	clickID("gclid", "google", "cpc"),     // Google Ads
	clickID("gbraid", "google", "cpc"),    // Google Ads, iOS app to web
	clickID("wbraid", "google", "cpc"),    // Google Ads, iOS web to app
	clickID("dclid", "google", "display"), // Campaign Manager 360, Display & Video 360
	clickID("srsltid", "google", "organic"),
	clickID("msclkid", "bing", "cpc"),       // Microsoft Advertising
	clickID("fbclid", "facebook", "social"), // Meta
	clickID("ttclid", "tiktok", "cpc"),      // TikTok Ads
	clickID("li_fat_id", "linkedin", "cpc"), // LinkedIn Ads
	clickID("twclid", "twitter", "cpc"),     // X Ads
	clickID("sccid", "snapchat", "cpc"),     // Snapchat Ads (documented as ScCid)
	clickID("epik", "pinterest", "cpc"),     // Pinterest Ads
	clickID("yclid", "yandex", "cpc"),       // Yandex Direct; Yahoo! Japan Ads' too (processor/enrich tells them apart by the referrer)
	clickID("ymclid", "yandex market", "cpc"),
	clickID("ysclid", "yandex", "organic"),
	clickID("rdt_cid", "reddit", "cpc"), // Reddit Ads
	clickID("qclid", "quora", "cpc"),    // Quora Ads
	clickID("obclid", "outbrain", "cpc"),
	clickID("tblci", "taboola", "cpc"),
	clickID("ndclid", "nextdoor", "cpc"), // Nextdoor Ads
	// Affiliate networks' click ids: the network is the source, the
	// medium affiliate (the publisher is the network's own report).
	clickID("irclickid", "impact", "affiliate"),
	clickID("cjevent", "cj", "affiliate"),          // CJ (Commission Junction)
	clickID("awc", "awin", "affiliate"),            // Awin
	clickID("sscid", "shareasale", "affiliate"),    // ShareASale
	clickID("ransiteid", "rakuten", "affiliate"),   // Rakuten Advertising (ranSiteID)
	clickID("clickref", "partnerize", "affiliate"), // Partnerize
	clickID("tduid", "tradedoubler", "affiliate"),  // TradeDoubler
	clickID("s_kwcid", "adobe", "cpc"),             // Adobe Advertising's tracking code
	clickID("ef_id", "adobe", "cpc"),               // Adobe Advertising's click id
}

// platformTags name a source without a click id: e-mail tools' link tags,
// and Google Ads' gad_source, which stays where a browser strips gclid
// (Safari's link tracking protection).
var platformTags = []Param{
	{Name: "gad_source", Kind: ParamPlatform, Field: NumFields, Source: "google", Medium: "cpc"},
	{Name: "mc_cid", Kind: ParamPlatform, Field: NumFields, Source: "mailchimp", Medium: "email"},
	{Name: "_hsenc", Kind: ParamPlatform, Field: NumFields, Source: "hubspot", Medium: "email"},
	{Name: "_hsmi", Kind: ParamPlatform, Field: NumFields, Source: "hubspot", Medium: "email"},
	{Name: "mkt_tok", Kind: ParamPlatform, Field: NumFields, Source: "marketo", Medium: "email"},
	{Name: "_kx", Kind: ParamPlatform, Field: NumFields, Source: "klaviyo", Medium: "email"},
}

// otherParams are the tags, affiliate, ref and recipient parameters.
var otherParams = []Param{
	tag("utm_source", UTMSource), tag("utm_medium", UTMMedium), tag("utm_campaign", UTMCampaign),
	tag("utm_term", UTMTerm), tag("utm_content", UTMContent),
	// Matomo's (and Piwik's) names for the same tags, read when the utm
	// one is absent.
	tag("mtm_source", UTMSource), tag("mtm_medium", UTMMedium), tag("mtm_campaign", UTMCampaign),
	tag("mtm_keyword", UTMTerm), tag("mtm_content", UTMContent),
	tag("pk_source", UTMSource), tag("pk_medium", UTMMedium), tag("pk_campaign", UTMCampaign),
	tag("pk_cpn", UTMCampaign), tag("pk_kwd", UTMTerm), tag("pk_keyword", UTMTerm), tag("pk_content", UTMContent),
	{Name: "aff", Kind: ParamAffiliate, Field: Affiliate},
	{Name: "affiliate", Kind: ParamAffiliate, Field: Affiliate},
	{Name: "affiliate_id", Kind: ParamAffiliate, Field: Affiliate},
	{Name: "ref", Kind: ParamRef, Field: NumFields},
	{Name: "ff_rt", Kind: ParamRecipient, Field: NumFields},
	{Name: "gclsrc", Kind: ParamKept, Field: NumFields},         // Google Ads: which product the gclid is from
	{Name: "gad_campaignid", Kind: ParamKept, Field: NumFields}, // Google Ads, beside gad_source
	{Name: "mc_eid", Kind: ParamKept, Field: NumFields},         // Mailchimp: the subscriber
}

// Whole families of tags, by prefix: any utm_* (utm_id,
// utm_source_platform...), Matomo's mtm_* (mtm_cid, mtm_group...) and
// pk_* (pk_vid...), HubSpot's hsa_* ad tags and _hs* e-mail tags, Google
// Ads' gad_*, Mailchimp's mc_*: kept beside the names listed above, which
// say more.
var families = []struct {
	prefix string
	param  Param
}{
	{"utm_", Param{Name: "utm_*", Kind: ParamTag, Field: NumFields}},
	{"mtm_", Param{Name: "mtm_*", Kind: ParamTag, Field: NumFields}},
	{"pk_", Param{Name: "pk_*", Kind: ParamTag, Field: NumFields}},
	{"hsa_", Param{Name: "hsa_*", Kind: ParamKept, Field: NumFields}},
	{"_hs", Param{Name: "_hs*", Kind: ParamKept, Field: NumFields}},
	{"gad_", Param{Name: "gad_*", Kind: ParamKept, Field: NumFields}},
	{"mc_", Param{Name: "mc_*", Kind: ParamKept, Field: NumFields}},
}

// unlisted is a name shaped like a click id (…clid, …clkid, …clickid,
// …braid) of a platform not in ClickIDs: kept in shortened URLs, so an id
// of a platform added after this list survives, but it names no source.
var unlisted = Param{Name: "…clid", Kind: ParamKept, Field: NumFields}

func clickID(name, source, medium string) Param {
	return Param{Name: name, Kind: ParamClickID, Field: ClickID, Source: source, Medium: medium}
}

func tag(name string, f Field) Param { return Param{Name: name, Kind: ParamTag, Field: f} }

var params = func() map[string]*Param {
	m := make(map[string]*Param)
	for _, list := range [][]Param{ClickIDs, platformTags, otherParams} {
		for i := range list {
			m[list[i].Name] = &list[i]
		}
	}
	return m
}()

// maxParamLen bounds the names LandingParam looks at: no listed name is
// longer, and a longer one is no campaign parameter.
const maxParamLen = 32

// LandingParam returns what a landing URL's query parameter named k is, or
// nil when it says nothing about where the visit came from. Case is
// ignored (UTM_SOURCE is utm_source); it does not allocate.
func LandingParam[S ~string | ~[]byte](k S) *Param {
	if len(k) == 0 || len(k) > maxParamLen {
		return nil
	}
	var buf [maxParamLen]byte
	l := buf[:len(k)]
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		l[i] = c
	}
	if p, ok := params[string(l)]; ok {
		return p
	}
	s := string(l) // for the prefix checks only; the compiler keeps it on the stack
	for i := range families {
		if f := &families[i]; len(s) > len(f.prefix) && hasPrefix(s, f.prefix) {
			return &f.param
		}
	}
	if hasSuffix(s, "clid") || hasSuffix(s, "clkid") || hasSuffix(s, "clickid") || hasSuffix(s, "braid") {
		return &unlisted
	}
	return nil
}

// CampaignParam reports whether a landing URL's query parameter named k
// says where the visit came from (LandingParam), case ignored.
func CampaignParam(k []byte) bool { return LandingParam(k) != nil }

func hasPrefix(s, p string) bool { return len(s) >= len(p) && s[:len(p)] == p }
func hasSuffix(s, p string) bool { return len(s) >= len(p) && s[len(s)-len(p):] == p }

// MaxParamValue bounds, decoded, the value of a campaign parameter that
// fills no field (ref, ff_rt, a platform's tag); one that fills a field is
// bounded by the field's MaxLen (utm_* 256 bytes, affiliate 128).
const MaxParamValue = 256

// MaxValue is the most bytes, decoded, that the value of p is kept to:
// a longer one is cut (CutValue, CutEncodedValue), never dropped, by the
// collector and the processor alike.
func (p *Param) MaxValue() int {
	if p.Field < NumFields {
		return Specs[p.Field].MaxLen
	}
	return MaxParamValue
}

// CutValue cuts a decoded value of p to p.MaxValue() bytes, on a UTF-8
// character's boundary.
func CutValue(v string, p *Param) string {
	max := p.MaxValue()
	if len(v) <= max {
		return v
	}
	cut := max
	for cut > 0 && cut > max-utf8.UTFMax && !utf8.RuneStart(v[cut]) {
		cut--
	}
	return v[:cut]
}

// CutEncodedValue cuts a value of p as it is in a query string
// (percent-encoded, + for a space) so that, decoded, it is at most
// p.MaxValue() bytes: never inside a %XX escape nor inside a character,
// encoded or not. It returns a prefix of v, and does not allocate.
func CutEncodedValue[S ~string | ~[]byte](v S, p *Param) S {
	max := p.MaxValue()
	if len(v) <= max {
		return v
	}
	n, runeAt := 0, 0
	for i := 0; i < len(v); {
		b, w := v[i], 1
		if b == '%' && i+2 < len(v) && isHex(v[i+1]) && isHex(v[i+2]) {
			b, w = unhex(v[i+1])<<4|unhex(v[i+2]), 3
		}
		if utf8.RuneStart(b) {
			runeAt = i
		}
		if n++; n > max {
			return v[:runeAt]
		}
		i += w
	}
	return v
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}
