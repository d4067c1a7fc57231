package enrich

import (
	"strings"

	"golang.org/x/net/publicsuffix"

	"footfall/internal/event"
)

// landing is what a landing URL's query says about where the visit came
// from, beyond the tags Result holds.
type landing struct {
	ref      string       // ref=, a source name by convention
	platform *event.Param // the first click id, else the first platform tag
}

// source picks the traffic source and medium, most explicit signal first:
// campaign tags, then an ad platform's click id or tag, then the ref=
// parameter, then the referrer.
func (en *Enricher) source(r *Result, l landing, refURL urlParts, rawRef string, site []byte) (string, string) {
	switch {
	case r.UTMSource != "":
		src := strings.ToLower(r.UTMSource)
		// A platform that tags its links with its own host and nothing
		// else (ChatGPT adds utm_source=chatgpt.com) is the source its
		// referrer would be.
		if r.UTMMedium == "" && strings.Contains(src, ".") {
			if k, ok := knownReferrer(strings.TrimPrefix(src, "www."), ""); ok {
				return k.source, k.medium
			}
		}
		return src, orDefault(strings.ToLower(r.UTMMedium), "(not set)")
	case l.platform != nil:
		src := l.platform.Source
		for _, s := range sharedClickIDs {
			if l.platform.Name == s.name && (refURL.host == s.domain || strings.HasSuffix(refURL.host, "."+s.domain)) {
				src = s.source
			}
		}
		return src, orDefault(strings.ToLower(r.UTMMedium), l.platform.Medium)
	case l.ref != "":
		return strings.ToLower(l.ref), "referral"
	case r.UTMCampaign != "":
		// A campaign named without a source (Matomo's usual link carries
		// pk_campaign or mtm_campaign alone) is a campaign touch all the
		// same: as Matomo reports it, the campaign's name is the source,
		// and the medium is the one tagged, else "campaign".
		return strings.ToLower(r.UTMCampaign), orDefault(strings.ToLower(r.UTMMedium), "campaign")
	}
	if app, ok := cutScheme(rawRef, "android-app://"); ok {
		return appSource(app, false)
	}
	if app, ok := cutScheme(rawRef, "ios-app://"); ok {
		return appSource(app, true)
	}
	refHost := refURL.host
	switch {
	case refHost == "":
		return "(direct)", "(none)"
	case en.internal(refHost, refURL.path, r.URLHost), en.siteDomain(site, refHost):
		return "(internal)", "(internal)"
	}
	h := strings.TrimPrefix(refHost, "www.")
	if k, ok := en.knownReferrer(h, refURL.path); ok {
		return k.source, k.medium
	}
	return h, "referral"
}

// knownReferrer is knownReferrer, the answers for a host remembered (most
// referrals come from a few hosts). An answer that depends on the path
// (google.com/imgres is Google Images) is remembered under the host and as
// much of the path as any listed path is long, which decides it; the host
// alone then holds a mark that says so.
func (en *Enricher) knownReferrer(h, path string) (referrerEntry, bool) {
	k, ok := en.refs.peek(h)
	if ok && !k.byPath {
		return k.referrerEntry, k.ok
	}
	key := h
	var buf [160]byte
	if ok {
		if len(h)+1+referrers.maxPath > len(buf) {
			return knownReferrer(h, path)
		}
		b := append(append(buf[:0], h...), 0)
		b = append(b, path[:min(len(path), referrers.maxPath)]...)
		key = unsafeString(b) // put copies it
		if k, ok := en.refs.peek(key); ok {
			return k.referrerEntry, k.ok
		}
	}
	e, found, byPath := knownReferrerByPath(h, path)
	switch {
	case !byPath:
		en.refs.put(h, knownHost{e, found, false})
	case key == h:
		en.refs.put(h, knownHost{byPath: true})
	default:
		en.refs.put(key, knownHost{e, found, false})
	}
	return e, found
}

// knownHost is a cached answer of knownReferrer.
type knownHost struct {
	referrerEntry
	ok     bool
	byPath bool // the answer depends on the path: see knownReferrer
}

// sharedClickIDs are click ids two platforms use under one name, told
// apart by the landing's referrer: Yahoo! Japan Ads add yclid as Yandex
// Direct does.
var sharedClickIDs = []struct{ name, domain, source string }{
	{"yclid", "yahoo.co.jp", "yahoo"},
}

// cutScheme is what follows scheme in raw, case ignored.
func cutScheme(raw, scheme string) (string, bool) {
	if len(raw) >= len(scheme) && strings.EqualFold(raw[:len(scheme)], scheme) {
		return raw[len(scheme):], true
	}
	return "", false
}

// knownReferrer names a referrer host (canonical, without www.): our own
// short list first (webmails, which the maintained list lacks), then the
// maintained list of search engines, social networks and AI assistants.
func knownReferrer(h, path string) (referrerEntry, bool) {
	k, ok, _ := knownReferrerByPath(h, path)
	return k, ok
}

// knownReferrerByPath is knownReferrer, and whether its answer depends on
// the path.
func knownReferrerByPath(h, path string) (referrerEntry, bool, bool) {
	for _, k := range ownReferrers {
		if h == k.host || strings.HasSuffix(h, "."+k.host) || (k.prefix && strings.HasPrefix(h, k.host)) {
			return referrerEntry{source: k.source, medium: k.medium}, true, false
		}
	}
	return referrers.find(h, path)
}

// internal reports whether a referral from refHost (its path refPath)
// stays within the site of pageHost: the same registrable domain
// (www.shop.example and shop.example, or checkout.shop.co.uk and
// shop.co.uk, by the Public Suffix List), or a referrer the operator
// listed (-ignore-referrers: the site's other domains, a payment
// provider's return page, a sign-in page).
func (en *Enricher) internal(refHost, refPath, pageHost string) bool {
	if refHost == pageHost {
		return true
	}
	ref := en.names.get(refHost, namesOf)
	if en.ignored.match(refHost, ref.base, refPath) {
		return true
	}
	if pageHost == "" {
		return false
	}
	return ref.domain == en.names.get(pageHost, namesOf).domain
}

// hostNames are a host's names by the Public Suffix List, found once per
// host (the look-up allocates for a name that is not an IP address) and
// kept by the enricher's cache: its registrable domain and the host
// without its public suffix (withoutSuffix).
type hostNames struct{ domain, base string }

func namesOf(host string) hostNames {
	// Copies: host points into a Kafka message.
	return hostNames{domain: strings.Clone(registrable(host)), base: strings.Clone(withoutSuffix(host))}
}

// siteDomain says whether refHost is one of the domains the registry
// lists for site, or below one. It does not allocate.
func (en *Enricher) siteDomain(site []byte, refHost string) bool {
	if en.sites == nil || len(site) == 0 {
		return false
	}
	e := en.sites.Lookup(site)
	return e != nil && e.ListsHost(unsafeBytes(refHost))
}

// withoutSuffix is host without its public suffix (www.paypal.co.uk:
// www.paypal), or "." when nothing is left, which no name matches.
func withoutSuffix(host string) string {
	suffix, _ := publicsuffix.PublicSuffix(host)
	cut := len(host) - len(suffix) - 1
	if cut <= 0 || host[cut] != '.' {
		return "."
	}
	return host[:cut]
}

// pathUnder says whether path starts with prefix, case ignored, after a
// version segment (/v19.0, as Facebook's Graph API puts before
// /dialog/oauth) if it has one.
func pathUnder(path, prefix string) bool {
	if len(path) >= len(prefix) && strings.EqualFold(path[:len(prefix)], prefix) {
		return true
	}
	if len(path) > 2 && path[0] == '/' && (path[1] == 'v' || path[1] == 'V') && path[2] >= '0' && path[2] <= '9' {
		if i := strings.IndexByte(path[1:], '/'); i > 0 {
			rest := path[1+i:]
			return len(rest) >= len(prefix) && strings.EqualFold(rest[:len(prefix)], prefix)
		}
	}
	return false
}

// registrable is the host's registrable domain (eTLD+1), or the host itself
// when it has none (an IP address, localhost, a bare public suffix).
func registrable(host string) string {
	d, err := publicsuffix.EffectiveTLDPlusOne(host)
	if err != nil {
		return host
	}
	return d
}

// appSource names the app an android-app://<package>/ referrer (what
// Android sends when an app opens the link) or an ios-app://<App Store
// id>/ one comes from: its web counterpart's source and medium when it has
// one, so the Google app is google / organic like google.com; another app
// is its package name (or "ios app <id>") / referral.
func appSource(rest string, ios bool) (string, string) {
	id, _, _ := strings.Cut(rest, "/")
	id = lower(id)
	if ios {
		id = strings.TrimPrefix(id, "id")
	}
	if id == "" {
		return "(direct)", "(none)"
	}
	for _, a := range knownApps {
		match := id == a.android || strings.HasPrefix(id, a.android+".")
		if ios {
			match = a.ios != "" && id == a.ios
		}
		if !match {
			continue
		}
		if a.host != "" {
			if k, ok := knownReferrer(a.host, ""); ok {
				return k.source, k.medium
			}
		}
		return a.source, a.medium
	}
	if !ios {
		// The maintained list names some apps by package too.
		if k, ok := referrers.lookup(id, ""); ok {
			return k.source, k.medium
		}
		return id, "referral"
	}
	return "ios app " + id, "referral"
}

type known struct {
	host           string
	prefix         bool // match "webmail." in webmail.provider.example
	source, medium string
}

// ownReferrers are what the maintained list (referrers.go) lacks: the
// webmails, before anything else since mail.google.com is not Google
// search; Google Ads' display clicks; messengers' web apps and short links.
var ownReferrers = []known{
	{"mail.google.com", false, "gmail", "email"},
	{"outlook.live.com", false, "outlook", "email"},
	{"outlook.office.com", false, "outlook", "email"},
	{"outlook.office365.com", false, "outlook", "email"},
	{"mail.yahoo.com", false, "yahoo mail", "email"},
	{"mail.proton.me", false, "proton mail", "email"},
	{"mail.aol.com", false, "aol mail", "email"},
	{"webmail.", true, "webmail", "email"},
	{"googleads.g.doubleclick.net", false, "google", "cpc"},
	{"whatsapp.com", false, "whatsapp", "social"},
	{"wa.me", false, "whatsapp", "social"},
	{"messenger.com", false, "facebook", "social"},
	{"pin.it", false, "pinterest", "social"},
	{"t.me", false, "telegram", "social"},
	{"line.me", false, "line", "social"},
	{"slack.com", false, "slack", "social"},
}

// app is an app that opens links: its Android package, its App Store id,
// and the web host it stands for (looked up as a referrer), or else a
// source of its own.
type app struct {
	android, ios   string
	host           string
	source, medium string
}

// knownApps are the apps behind android-app:// and ios-app:// referrers
// that a shop sees most, each the source its web counterpart is, so that a
// search from the Google app and one from google.com are one source.
// Browsers that come with their maker's search engine (Brave, Ecosia,
// DuckDuckGo) are that engine; other browsers (opening a link from their
// start page or news feed) are their own source.
var knownApps = []app{
	{android: "com.google.android.googlequicksearchbox", ios: "284815942", host: "google.com"},
	{android: "com.google.android.apps.searchlite", host: "google.com"}, // Google Go
	{android: "com.google.android.gm", ios: "422689480", host: "mail.google.com"},
	{android: "com.google.android.apps.maps", ios: "585027354", host: "maps.google.com"},
	{android: "com.google.android.apps.magazines", host: "news.google.com"}, // Google News
	{android: "com.google.android.youtube", ios: "544007664", host: "youtube.com"},
	{android: "com.google.android.apps.youtube", host: "youtube.com"},
	{android: "com.google.android.apps.bard", host: "gemini.google.com"},
	{android: "com.microsoft.bing", ios: "345323231", host: "bing.com"},
	{android: "com.microsoft.copilot", host: "copilot.microsoft.com"},
	{android: "com.openai.chatgpt", ios: "6448311069", host: "chatgpt.com"},
	{android: "ai.perplexity.app.android", host: "perplexity.ai"},
	{android: "com.anthropic.claude", host: "claude.ai"},
	{android: "com.duckduckgo.mobile.android", ios: "663592361", host: "duckduckgo.com"},
	{android: "com.ecosia.android", ios: "670881887", host: "ecosia.org"},
	{android: "com.brave.browser", ios: "1052879175", host: "search.brave.com"},
	{android: "ru.yandex.searchplugin", host: "yandex.ru"},
	{android: "com.yandex.browser", host: "yandex.ru"},
	{android: "com.android.chrome", ios: "535886823", source: "chrome", medium: "referral"},
	{android: "org.mozilla.firefox", ios: "989804926", source: "firefox", medium: "referral"},
	{android: "com.sec.android.app.sbrowser", source: "samsung internet", medium: "referral"},
	{android: "com.microsoft.emmx", ios: "1288723196", source: "edge", medium: "referral"},
	{android: "com.opera.browser", ios: "1411869974", source: "opera", medium: "referral"},
	{android: "com.opera.mini.native", source: "opera", medium: "referral"},
	{android: "com.opera.gx", source: "opera", medium: "referral"},
	{android: "com.microsoft.office.outlook", ios: "951937596", host: "outlook.live.com"},
	{android: "com.yahoo.mobile.client.android.mail", host: "mail.yahoo.com"},
	{android: "ch.protonmail.android", host: "mail.proton.me"},
	{android: "com.samsung.android.email", source: "email", medium: "email"},
	{android: "com.facebook.katana", ios: "284882215", host: "facebook.com"},
	{android: "com.facebook.lite", host: "facebook.com"},
	{android: "com.facebook.orca", ios: "454638411", host: "messenger.com"},
	{android: "com.instagram.android", ios: "389801252", host: "instagram.com"},
	{android: "com.instagram.barcelona", ios: "6446901002", host: "threads.net"},
	{android: "com.twitter.android", ios: "333903271", host: "twitter.com"},
	{android: "com.linkedin.android", ios: "288429040", host: "linkedin.com"},
	{android: "com.pinterest", ios: "429047995", host: "pinterest.com"},
	{android: "com.reddit.frontpage", ios: "1064216828", host: "reddit.com"},
	{android: "com.zhiliaoapp.musically", ios: "835599320", host: "tiktok.com"},
	{android: "com.ss.android.ugc.trill", host: "tiktok.com"},
	{android: "com.snapchat.android", ios: "447188370", host: "snapchat.com"},
	// Messengers are social, as their web hosts are; the text message
	// (SMS, RCS) apps are medium sms, as GA4's SMS channel reads it.
	{android: "com.whatsapp", ios: "310633997", host: "whatsapp.com"},
	{android: "com.whatsapp.w4b", ios: "1386412939", host: "whatsapp.com"}, // WhatsApp Business
	{android: "org.telegram.messenger", ios: "686449807", host: "web.telegram.org"},
	{android: "org.telegram.plus", host: "web.telegram.org"},
	{android: "org.thunderdog.challegram", host: "web.telegram.org"}, // Telegram X
	{android: "jp.naver.line.android", ios: "443904275", host: "line.me"},
	{android: "org.thoughtcrime.securesms", ios: "874139669", source: "signal", medium: "social"},
	{android: "com.viber.voip", ios: "382617920", source: "viber", medium: "social"},
	{android: "com.tencent.mm", ios: "414478124", source: "wechat", medium: "social"},
	{android: "com.kakao.talk", ios: "362057947", source: "kakaotalk", medium: "social"},
	{android: "com.google.android.apps.messaging", source: "google messages", medium: "sms"},
	{android: "com.samsung.android.messaging", source: "samsung messages", medium: "sms"},
	{android: "com.android.mms", source: "messages", medium: "sms"},
	{android: "com.android.messaging", source: "messages", medium: "sms"},
	{android: "com.microsoft.android.smsorganizer", source: "sms organizer", medium: "sms"},
	{android: "com.discord", ios: "985746746", host: "discord.com"},
	{android: "com.slack", ios: "618783545", host: "slack.com"},
	{android: "xyz.blueskyweb.app", host: "bsky.app"},
}
