package enrich

import (
	"strings"

	"golang.org/x/net/publicsuffix"
)

// source picks the traffic source and medium, most explicit signal first:
// campaign tags, then an ad platform's click id, then the ref= parameter,
// then the referrer.
func (en *Enricher) source(r *Result, ref string, click *clickKind, refURL urlParts, rawRef string) (string, string) {
	switch {
	case r.UTMSource != "":
		return strings.ToLower(r.UTMSource), orDefault(strings.ToLower(r.UTMMedium), "(not set)")
	case click != nil:
		return click.source, orDefault(strings.ToLower(r.UTMMedium), click.medium)
	case ref != "":
		return strings.ToLower(ref), "referral"
	}
	if app, ok := strings.CutPrefix(rawRef, "android-app://"); ok {
		return appSource(app)
	}
	refHost := refURL.host
	switch {
	case refHost == "":
		return "(direct)", "(none)"
	case en.internal(refHost, r.URLHost):
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

// internal reports whether a referral from refHost stays within the site
// of pageHost: the same registrable domain (www.shop.example and
// shop.example, or checkout.shop.co.uk and shop.co.uk, by the Public Suffix
// List), or a host the operator listed (-ignore-referrers: the site's other
// domains, a payment provider's return page).
func (en *Enricher) internal(refHost, pageHost string) bool {
	if refHost == pageHost {
		return true
	}
	for _, h := range en.ignored {
		if refHost == h || strings.HasSuffix(refHost, "."+h) {
			return true
		}
	}
	if pageHost == "" {
		return false
	}
	return registrable(refHost) == registrable(pageHost)
}

// registrable is the host's registrable domain (eTLD+1), or the host itself
// when it has none (an IP address, localhost, a bare public suffix).
func registrable(host string) string {
	d, err := publicsuffix.EffectiveTLDPlusOne(strings.TrimSuffix(host, "."))
	if err != nil {
		return host
	}
	return d
}

// appSource names the app an android-app://<package>/ referrer comes from:
// Android sends that instead of a web referrer when an app opens the link.
func appSource(rest string) (string, string) {
	pkg, _, _ := strings.Cut(rest, "/")
	pkg = lower(pkg)
	for _, a := range knownApps {
		if pkg == a.pkg || strings.HasPrefix(pkg, a.pkg+".") {
			return a.source, a.medium
		}
	}
	if pkg == "" {
		return "(direct)", "(none)"
	}
	return pkg, "referral"
}

type known struct {
	host           string
	prefix         bool // match "google." in google.fr, google.co.uk
	source, medium string
}

// knownReferrers names the search engines, webmails and social networks
// whose referrals a shop sees most. Webmail first: mail.google.com is not
// Google search.
var knownReferrers = []known{
	{"mail.google.com", false, "gmail", "email"},
	{"outlook.live.com", false, "outlook", "email"},
	{"outlook.office.com", false, "outlook", "email"},
	{"outlook.office365.com", false, "outlook", "email"},
	{"mail.yahoo.com", false, "yahoo mail", "email"},
	{"mail.proton.me", false, "proton mail", "email"},
	{"mail.aol.com", false, "aol mail", "email"},
	{"webmail.", true, "webmail", "email"},
	{"googleads.g.doubleclick.net", false, "google", "cpc"},
	{"google.", true, "google", "organic"},
	{"bing.com", false, "bing", "organic"},
	{"duckduckgo.com", false, "duckduckgo", "organic"},
	{"search.yahoo.com", false, "yahoo", "organic"},
	{"search.brave.com", false, "brave", "organic"},
	{"ecosia.org", false, "ecosia", "organic"},
	{"qwant.com", false, "qwant", "organic"},
	{"baidu.com", false, "baidu", "organic"},
	{"yandex.", true, "yandex", "organic"},
	{"ya.ru", false, "yandex", "organic"},
	{"naver.com", false, "naver", "organic"},
	{"seznam.cz", false, "seznam", "organic"},
	{"startpage.com", false, "startpage", "organic"},
	{"perplexity.ai", false, "perplexity", "referral"},
	{"chatgpt.com", false, "chatgpt", "referral"},
	{"facebook.com", false, "facebook", "social"},
	{"fb.me", false, "facebook", "social"},
	{"messenger.com", false, "facebook", "social"},
	{"instagram.com", false, "instagram", "social"},
	{"threads.net", false, "threads", "social"},
	{"t.co", false, "twitter", "social"},
	{"twitter.com", false, "twitter", "social"},
	{"x.com", false, "twitter", "social"},
	{"linkedin.com", false, "linkedin", "social"},
	{"lnkd.in", false, "linkedin", "social"},
	{"pinterest.", true, "pinterest", "social"},
	{"pin.it", false, "pinterest", "social"},
	{"reddit.com", false, "reddit", "social"},
	{"youtube.com", false, "youtube", "social"},
	{"youtu.be", false, "youtube", "social"},
	{"tiktok.com", false, "tiktok", "social"},
	{"snapchat.com", false, "snapchat", "social"},
	{"bsky.app", false, "bluesky", "social"},
	{"mastodon.social", false, "mastodon", "social"},
	{"news.ycombinator.com", false, "hacker news", "social"},
	{"web.whatsapp.com", false, "whatsapp", "social"},
	{"web.telegram.org", false, "telegram", "social"},
}

type app struct{ pkg, source, medium string }

// knownApps names the Android apps behind android-app:// referrers, with
// the source and medium their web counterparts have above, so that a
// search from the Google app and one from google.com are one source.
var knownApps = []app{
	{"com.google.android.googlequicksearchbox", "google", "organic"},
	{"com.google.android.gm", "gmail", "email"},
	{"com.google.android.apps.searchlite", "google", "organic"},
	{"com.google.android.youtube", "youtube", "social"},
	{"com.google.android.apps.youtube", "youtube", "social"},
	{"com.microsoft.bing", "bing", "organic"},
	{"com.duckduckgo.mobile.android", "duckduckgo", "organic"},
	{"ru.yandex.searchplugin", "yandex", "organic"},
	{"com.yandex.browser", "yandex", "organic"},
	{"com.microsoft.office.outlook", "outlook", "email"},
	{"com.yahoo.mobile.client.android.mail", "yahoo mail", "email"},
	{"ch.protonmail.android", "proton mail", "email"},
	{"com.samsung.android.email", "email", "email"},
	{"com.facebook.katana", "facebook", "social"},
	{"com.facebook.lite", "facebook", "social"},
	{"com.facebook.orca", "facebook", "social"},
	{"com.instagram.android", "instagram", "social"},
	{"com.instagram.barcelona", "threads", "social"},
	{"com.twitter.android", "twitter", "social"},
	{"com.linkedin.android", "linkedin", "social"},
	{"com.pinterest", "pinterest", "social"},
	{"com.reddit.frontpage", "reddit", "social"},
	{"com.zhiliaoapp.musically", "tiktok", "social"},
	{"com.ss.android.ugc.trill", "tiktok", "social"},
	{"com.snapchat.android", "snapchat", "social"},
	{"com.whatsapp", "whatsapp", "social"},
	{"org.telegram.messenger", "telegram", "social"},
	{"jp.naver.line.android", "line", "social"},
	{"com.discord", "discord", "social"},
	{"com.slack", "slack", "social"},
	{"xyz.blueskyweb.app", "bluesky", "social"},
}

// clickKind is what an ad platform's click id says: the platform adds it
// to every ad click (auto-tagging), so it names the source without tags.
type clickKind struct {
	param          string // lower case
	source, medium string
}

// clickIDs lists the click ids of the major ad platforms, from each
// platform's documentation of its auto-tagging. Keys are matched without
// regard to case (Snapchat documents ScCid). fbclid is added by Facebook
// and Instagram to every outbound link, ads or not, so it says social;
// srsltid marks Google's free shopping listings, so it says organic.
var clickIDs = []clickKind{
	{"gclid", "google", "cpc"},     // Google Ads
	{"gbraid", "google", "cpc"},    // Google Ads, iOS app-to-web
	{"wbraid", "google", "cpc"},    // Google Ads, iOS web-to-app
	{"dclid", "google", "display"}, // Campaign Manager 360, Display & Video 360
	{"srsltid", "google", "organic"},
	{"msclkid", "bing", "cpc"},       // Microsoft Advertising
	{"fbclid", "facebook", "social"}, // Meta
	{"ttclid", "tiktok", "cpc"},      // TikTok Ads
	{"li_fat_id", "linkedin", "cpc"},
	{"twclid", "twitter", "cpc"}, // X Ads
	{"sccid", "snapchat", "cpc"},
	{"epik", "pinterest", "cpc"},
	{"yclid", "yandex", "cpc"},   // Yandex Direct
	{"rdt_cid", "reddit", "cpc"}, // Reddit Ads
	{"qclid", "quora", "cpc"},
	{"obclid", "outbrain", "cpc"},
	{"tblci", "taboola", "cpc"},
	{"irclickid", "impact", "affiliate"},
}

// clickKindOf returns the click id kind a query parameter names, or nil.
func clickKindOf(k string) *clickKind {
	if len(k) < 4 || len(k) > 10 {
		return nil
	}
	for i := range clickIDs {
		if strings.EqualFold(k, clickIDs[i].param) {
			return &clickIDs[i]
		}
	}
	return nil
}
