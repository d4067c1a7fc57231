package enrich

import (
	"flag"
	"strings"
	"testing"

	"footfall/internal/envflag"
	"footfall/internal/event"
	"footfall/internal/sites"
)

func TestInternalReferrers(t *testing.T) {
	cases := []struct{ url, ref, source, medium string }{
		{"https://shop.example/p", "https://www.shop.example/c", "(internal)", "(internal)"},
		{"https://www.shop.example/p", "https://shop.example/c", "(internal)", "(internal)"},
		{"https://shop.example/p", "https://blog.shop.example/post", "(internal)", "(internal)"},
		{"https://shop.co.uk/p", "https://checkout.shop.co.uk/done", "(internal)", "(internal)"},
		{"https://shop.example:8443/p", "http://WWW.Shop.Example./c", "(internal)", "(internal)"},
		// Two shops on one public suffix are two sites.
		{"https://shop.github.io/p", "https://other.github.io/", "other.github.io", "referral"},
		{"https://shop.co.uk/p", "https://other.co.uk/", "other.co.uk", "referral"},
		{"https://127.0.0.1/p", "https://127.0.0.2/", "127.0.0.2", "referral"},
		{"https://127.0.0.1/p", "https://10.0.0.1/", "10.0.0.1", "referral"},
		{"https://127.0.0.1:8080/p", "http://127.0.0.1/", "(internal)", "(internal)"},
		{"https://[::1]:8080/p", "https://[::2]/", "[::2]", "referral"},
		{"https://localhost:8080/p", "http://localhost/x", "(internal)", "(internal)"},
		// Payment providers' return pages, by default.
		{"https://shop.example/thanks", "https://www.paypal.com/checkoutnow?token=1", "(internal)", "(internal)"},
		{"https://shop.example/thanks", "https://checkout.stripe.com/c/pay/cs_1", "(internal)", "(internal)"},
		{"https://shop.example/thanks", "https://hooks.stripe.com/redirect/authenticate/src_1", "(internal)", "(internal)"},
		// The same providers in other countries, and the 3-D Secure pages
		// of card payments (a bank's access control server).
		{"https://shop.example/thanks", "https://www.paypal.de/checkoutnow", "(internal)", "(internal)"},
		{"https://shop.example/thanks", "https://www.sandbox.paypal.co.uk/", "(internal)", "(internal)"},
		{"https://shop.example/thanks", "https://payments.amazon.de/checkout", "(internal)", "(internal)"},
		{"https://shop.example/thanks", "https://payments.amazon.co.uk/checkout", "(internal)", "(internal)"},
		{"https://shop.example/pay/return", "https://acs.cardinalcommerce.com/", "(internal)", "(internal)"},
		{"https://shop.example/thanks", "https://secure.payu.com/pay", "(internal)", "(internal)"},
		{"https://shop.example/thanks", "https://www.przelewy24.pl/trnRequest", "(internal)", "(internal)"},
		{"https://shop.example/thanks", "https://checkout.link.com/", "(internal)", "(internal)"},
		{"https://shop.example/thanks", "https://pay.stripe.com/receipts/x", "(internal)", "(internal)"},
		// A name under every suffix is a registrable name, not a prefix.
		{"https://shop.example/", "https://paypal.evil.example/", "paypal.evil.example", "referral"},
		{"https://shop.example/", "https://mypaypal.de/", "mypaypal.de", "referral"},
		{"https://shop.example/", "https://www.shop-other.example/", "shop-other.example", "referral"},
	}
	en := New(10)
	for _, c := range cases {
		var r Result
		en.Enrich(ev(c.url, c.ref, firefox, nil), &r)
		if r.Source != c.source || r.Medium != c.medium {
			t.Errorf("page %s from %s: %s / %s, want %s / %s", c.url, c.ref, r.Source, r.Medium, c.source, c.medium)
		}
	}
	// The operator's list replaces the default: the site's other domain
	// and another provider.
	en.IgnoreReferrers([]string{" Shop.DE ", "www.pay.example", ""})
	for ref, want := range map[string]string{
		"https://www.shop.de/":              "(internal)",
		"https://pay.example/return":        "(internal)",
		"https://secure.pay.example/return": "(internal)",
		"https://www.paypal.com/":           "paypal.com",
		"https://notshop.de/":               "notshop.de",
	} {
		var r Result
		en.Enrich(ev("https://shop.example/thanks", ref, firefox, nil), &r)
		if r.Source != want {
			t.Errorf("ignoring shop.de and pay.example, from %s: source %q, want %q", ref, r.Source, want)
		}
	}
}

func TestAppReferrers(t *testing.T) {
	cases := []struct{ ref, source, medium string }{
		{"android-app://com.google.android.googlequicksearchbox/", "google", "organic"},
		{"android-app://com.google.android.googlequicksearchbox/https/www.google.com", "google", "organic"},
		{"android-app://com.google.android.gm/", "gmail", "email"},
		{"android-app://com.google.android.gm", "gmail", "email"},
		{"android-app://com.facebook.katana/", "facebook", "social"},
		{"android-app://com.instagram.android/", "instagram", "social"},
		{"android-app://com.linkedin.android/", "linkedin", "social"},
		{"android-app://com.twitter.android/", "twitter", "social"},
		{"android-app://com.microsoft.office.outlook/", "outlook", "email"},
		{"android-app://com.pinterest/", "pinterest", "social"},
		{"android-app://org.telegram.messenger/", "telegram", "social"},
		{"android-app://com.zhiliaoapp.musically/", "tiktok", "social"},
		{"android-app://Com.Example.App/", "com.example.app", "referral"},
		{"android-app://", "(direct)", "(none)"},
	}
	en := New(10)
	for _, c := range cases {
		var r Result
		en.Enrich(ev("https://shop.example/p", c.ref, firefox, nil), &r)
		if r.Source != c.source || r.Medium != c.medium {
			t.Errorf("from %s: %s / %s, want %s / %s", c.ref, r.Source, r.Medium, c.source, c.medium)
		}
	}
	// An app is one source with its web counterpart.
	var web, app Result
	en.Enrich(ev("https://shop.example/", "https://mail.google.com/mail/u/0/", firefox, nil), &web)
	en.Enrich(ev("https://shop.example/", "android-app://com.google.android.gm/", firefox, nil), &app)
	if web.Source != app.Source || web.Medium != app.Medium {
		t.Errorf("Gmail on the web %s / %s, in the app %s / %s", web.Source, web.Medium, app.Source, app.Medium)
	}
}

func TestClickIDs(t *testing.T) {
	cases := []struct{ param, source, medium string }{
		{"gclid", "google", "cpc"},
		{"gbraid", "google", "cpc"},
		{"wbraid", "google", "cpc"},
		{"dclid", "google", "display"},
		{"srsltid", "google", "organic"},
		{"msclkid", "bing", "cpc"},
		{"fbclid", "facebook", "social"},
		{"ttclid", "tiktok", "cpc"},
		{"li_fat_id", "linkedin", "cpc"},
		{"twclid", "twitter", "cpc"},
		{"ScCid", "snapchat", "cpc"},
		{"sccid", "snapchat", "cpc"},
		{"epik", "pinterest", "cpc"},
		{"yclid", "yandex", "cpc"},
		{"rdt_cid", "reddit", "cpc"},
		{"GCLID", "google", "cpc"},
	}
	en := New(10)
	for _, c := range cases {
		for _, ref := range []string{"", "https://www.google.com/", "https://shop.example/"} {
			var r Result
			en.Enrich(ev("https://shop.example/p?x=1&"+c.param+"=0AAAAAo-test%2B1&y=2", ref, firefox, nil), &r)
			// The tags stay what the URL said: none.
			if r.Source != c.source || r.Medium != c.medium || r.ClickID != "0AAAAAo-test+1" ||
				r.UTMSource != "" || r.UTMMedium != "" {
				t.Errorf("%s from %q: %s / %s, click id %q, utm %q / %q; want %s / %s", c.param, ref, r.Source, r.Medium, r.ClickID,
					r.UTMSource, r.UTMMedium, c.source, c.medium)
			}
		}
	}
	var r Result
	// Tags say otherwise: they win, and the click id is kept.
	en.Enrich(ev("https://shop.example/?gbraid=G1&utm_source=newsletter&utm_medium=email", "", firefox, nil), &r)
	if r.Source != "newsletter" || r.Medium != "email" || r.ClickID != "G1" {
		t.Errorf("tags and a click id: %s / %s, click id %q", r.Source, r.Medium, r.ClickID)
	}
	// A medium tag alone refines the click id's.
	en.Enrich(ev("https://shop.example/?gclid=G2&utm_medium=shopping", "", firefox, nil), &r)
	if r.Source != "google" || r.Medium != "shopping" || r.ClickID != "G2" {
		t.Errorf("a medium tag and a click id: %s / %s, click id %q", r.Source, r.Medium, r.ClickID)
	}
	// The first click id names the platform.
	en.Enrich(ev("https://shop.example/?ttclid=T&gclid=G", "", firefox, nil), &r)
	if r.Source != "tiktok" || r.ClickID != "T" {
		t.Errorf("two click ids: %s, click id %q", r.Source, r.ClickID)
	}
	// The snippet sends the landing's click id with the landing URL, and
	// with every later event of the session: the id the event carries is
	// kept, the URL names the platform.
	en.Enrich(ev("https://shop.example/?gbraid=G3", "", firefox, map[event.Field]string{event.ClickID: "G3"}), &r)
	if r.Source != "google" || r.Medium != "cpc" || r.ClickID != "G3" {
		t.Errorf("snippet's landing: %s / %s, click id %q", r.Source, r.Medium, r.ClickID)
	}
	en.Enrich(ev("https://shop.example/cart", "https://shop.example/p", firefox, map[event.Field]string{event.ClickID: "G3"}), &r)
	if r.Source != "(internal)" || r.ClickID != "G3" {
		t.Errorf("snippet's later event: %s / %s, click id %q", r.Source, r.Medium, r.ClickID)
	}
	// Not click ids: empty values, other parameters.
	for _, u := range []string{"https://shop.example/?gclid=", "https://shop.example/?gclidx=1", "https://shop.example/?xgclid=1"} {
		en.Enrich(ev(u, "", firefox, nil), &r)
		if r.Source != "(direct)" || r.ClickID != "" || r.UTMSource != "" {
			t.Errorf("%s: %s, click id %q, utm_source %q", u, r.Source, r.ClickID, r.UTMSource)
		}
	}
}

func TestReadablePaths(t *testing.T) {
	cases := []struct{ url, path string }{
		{"https://shop.example/caf%C3%A9/cr%C3%A8me", "/café/crème"},
		{"https://shop.example/café/crème", "/café/crème"},
		{"https://shop.example/caf%c3%a9/cr%C3%A8me?x=%C3%A9", "/café/crème"},
		{"https://shop.example/%E6%97%A5%E6%9C%AC/%F0%9F%98%80", "/日本/😀"},
		{"https://shop.example/my%20page", "/my page"},
		{"https://shop.example/%41%42c", "/ABc"},
		// Escapes that change the path's meaning stay, in one case.
		{"https://shop.example/a%2fb", "/a%2Fb"},
		{"https://shop.example/a%2Fb%3F%23%25", "/a%2Fb%3F%23%25"},
		{"https://shop.example/nul%00tab%09", "/nul%00tab%09"},
		// Not UTF-8, or not an escape: kept, hex in upper case.
		{"https://shop.example/latin%e9", "/latin%E9"},
		{"https://shop.example/cut%E2%82", "/cut%E2%82"},
		{"https://shop.example/cut%E2%82x", "/cut%E2%82x"},
		{"https://shop.example/100%", "/100%"},
		{"https://shop.example/100%zz", "/100%zz"},
		{"https://shop.example/%C3%A9%", "/é%"},
	}
	en := New(10)
	for _, c := range cases {
		var r Result
		en.Enrich(ev(c.url, "", firefox, nil), &r)
		if r.URLPath != c.path {
			t.Errorf("%s: path %q, want %q", c.url, r.URLPath, c.path)
		}
	}
	var r Result
	en.Enrich(ev("https://shop.example/", "https://Blog.Example/caf%C3%A9/cr%c3%a8me?q=%C3%A9#x", firefox, nil), &r)
	if r.Referrer != "https://Blog.Example/café/crème?q=%C3%A9#x" || r.ReferrerHost != "blog.example" {
		t.Errorf("referrer %q host %q", r.Referrer, r.ReferrerHost)
	}
	en.Enrich(ev("https://shop.example/", "https://blog.example/plain?q=1", firefox, nil), &r)
	if r.Referrer != "https://blog.example/plain?q=1" {
		t.Errorf("referrer %q", r.Referrer)
	}
}

func TestIgnoreReferrersFlag(t *testing.T) {
	source := func(args []string, env map[string]string, ref string) string {
		var c Config
		fs := flag.NewFlagSet("processor", flag.ContinueOnError)
		c.RegisterFlags(fs)
		if err := envflag.Parse(fs, args, func(k string) string { return env[k] }); err != nil {
			t.Fatal(err)
		}
		en := New(10)
		c.Apply(en)
		var r Result
		en.Enrich(ev("https://shop.example/thanks", ref, firefox, nil), &r)
		return r.Source
	}
	env := map[string]string{"FOOTFALL_IGNORE_REFERRERS": "shop.de,pay.example"}
	for _, c := range []struct {
		args      []string
		env       map[string]string
		ref, want string
	}{
		{nil, nil, "https://www.paypal.com/", "(internal)"},
		{nil, env, "https://www.shop.de/", "(internal)"},
		{nil, env, "https://www.paypal.com/", "paypal.com"},
		{[]string{"-ignore-referrers", "paypal.com"}, env, "https://www.shop.de/", "shop.de"},
		{[]string{"-ignore-referrers", "none"}, nil, "https://www.paypal.com/", "paypal.com"},
	} {
		if got := source(c.args, c.env, c.ref); got != c.want {
			t.Errorf("args %v env %v, from %s: source %q, want %q", c.args, c.env, c.ref, got, c.want)
		}
	}
}

// TestEveryClickIDNamesItsPlatform: each click id of the one list
// (event.ClickIDs), in any case, names its platform and is kept; each
// platform tag names its platform and keeps no id.
func TestEveryClickIDNamesItsPlatform(t *testing.T) {
	en := New(10)
	for _, p := range event.ClickIDs {
		for _, name := range []string{p.Name, strings.ToUpper(p.Name), strings.ToUpper(p.Name[:1]) + p.Name[1:]} {
			var r Result
			en.Enrich(ev("https://shop.example/p?x=1&"+name+"=ID-1%2B2&y=2", "https://www.google.com/", firefox, nil), &r)
			if r.Source != p.Source || r.Medium != p.Medium || r.ClickID != "ID-1+2" {
				t.Errorf("%s: %s / %s, click id %q; want %s / %s", name, r.Source, r.Medium, r.ClickID, p.Source, p.Medium)
			}
		}
	}
	for _, c := range []struct{ param, source, medium string }{
		{"ymclid", "yandex market", "cpc"}, {"ndclid", "nextdoor", "cpc"}, {"s_kwcid", "adobe", "cpc"},
		{"tblci", "taboola", "cpc"}, {"srsltid", "google", "organic"}, {"ysclid", "yandex", "organic"},
	} {
		var r Result
		en.Enrich(ev("https://shop.example/?"+c.param+"=AL!1!3", "", firefox, nil), &r)
		if r.Source != c.source || r.Medium != c.medium || r.ClickID != "AL!1!3" {
			t.Errorf("%s: %s / %s, click id %q", c.param, r.Source, r.Medium, r.ClickID)
		}
	}
	for _, c := range []struct{ query, source, medium string }{
		{"gad_source=1", "google", "cpc"},
		{"mc_cid=abc&mc_eid=def", "mailchimp", "email"},
		{"_hsenc=p2ANqtz&_hsmi=1", "hubspot", "email"},
		{"_kx=abc", "klaviyo", "email"},
		{"MKT_TOK=abc", "marketo", "email"},
		// A click id wins over a tag, wherever it is.
		{"gad_source=1&gbraid=G", "google", "cpc"},
		{"mc_cid=abc&fbclid=F", "facebook", "social"},
		// An unlisted id and Adobe's campaign id name nothing.
		{"newclid=1&gclsrc=aw.ds&hsa_net=adwords", "(direct)", "(none)"},
	} {
		var r Result
		en.Enrich(ev("https://shop.example/?"+c.query, "", firefox, nil), &r)
		wantID := ""
		if strings.Contains(c.query, "gbraid") {
			wantID = "G"
		} else if strings.Contains(c.query, "fbclid") {
			wantID = "F"
		}
		if r.Source != c.source || r.Medium != c.medium || r.ClickID != wantID {
			t.Errorf("?%s: %s / %s, click id %q; want %s / %s, %q", c.query, r.Source, r.Medium, r.ClickID, c.source, c.medium, wantID)
		}
	}
}

// TestTagsInAnyCase: parameter names are read without regard to case, and
// values are kept as sent; Matomo's names are read when utm's are absent.
func TestTagsInAnyCase(t *testing.T) {
	en := New(10)
	cases := []struct {
		query                         string
		source, medium, campaign, aff string
		utmSource, term               string
	}{
		{"UTM_SOURCE=News&UTM_MEDIUM=Email&Utm_Campaign=Spring%20Sale", "news", "email", "Spring Sale", "", "News", ""},
		{"utm_Source=Partner&AFF=Julie&Ref=ignored", "partner", "(not set)", "", "Julie", "Partner", ""},
		{"mtm_source=Matomo&mtm_medium=email&mtm_campaign=c1&mtm_keyword=k", "matomo", "email", "c1", "", "Matomo", "k"},
		{"pk_campaign=pk1&pk_source=piwik&pk_kwd=shoes", "piwik", "(not set)", "pk1", "", "piwik", "shoes"},
		// utm wins over Matomo's, before or after it.
		{"mtm_source=m&utm_source=u&pk_campaign=p&UTM_CAMPAIGN=c", "u", "(not set)", "c", "", "u", ""},
		{"utm_source=u&mtm_source=m", "u", "(not set)", "", "", "u", ""},
	}
	for _, c := range cases {
		var r Result
		en.Enrich(ev("https://shop.example/?"+c.query, "https://www.google.com/", firefox, nil), &r)
		if r.Source != c.source || r.Medium != c.medium || r.UTMCampaign != c.campaign || r.Affiliate != c.aff ||
			r.UTMSource != c.utmSource || r.UTMTerm != c.term {
			t.Errorf("?%s: source %q medium %q campaign %q aff %q utm_source %q term %q", c.query,
				r.Source, r.Medium, r.UTMCampaign, r.Affiliate, r.UTMSource, r.UTMTerm)
		}
	}
}

// TestKnownReferrers: the maintained list's search engines, social networks
// and AI assistants, their country domains and subdomains, and our own
// short list.
func TestKnownReferrers(t *testing.T) {
	cases := []struct{ ref, source, medium string }{
		{"https://www.google.co.uk/", "google", "organic"},
		{"https://www.google.com.br/", "google", "organic"},
		{"https://images.google.de/", "google images", "organic"},
		{"https://maps.google.com/", "google maps", "organic"},
		{"https://www.google.com/imgres?imgurl=x", "google images", "organic"},
		{"https://docs.google.com/document/d/1", "docs.google.com", "referral"},
		{"https://mail.google.com/mail/u/0/", "gmail", "email"},
		{"https://www.bing.com/", "bing", "organic"},
		{"https://de.search.yahoo.com/", "yahoo", "organic"},
		{"https://m.search.naver.com/", "naver", "organic"},
		{"https://yandex.ru/", "yandex", "organic"},
		{"https://ya.ru/", "yandex", "organic"},
		{"https://duckduckgo.com/", "duckduckgo", "organic"},
		{"https://www.ecosia.org/", "ecosia", "organic"},
		{"https://search.brave.com/", "brave", "organic"},
		{"https://l.facebook.com/", "facebook", "social"},
		{"https://lm.facebook.com/l.php?u=x", "facebook", "social"},
		{"https://www.facebook.com/", "facebook", "social"},
		{"https://old.reddit.com/r/shoes", "reddit", "social"},
		{"https://x.com/", "twitter", "social"},
		{"https://t.co/abc", "twitter", "social"},
		{"https://x.com/i/grok?conversation=1", "grok", "ai"},
		{"https://web.whatsapp.com/", "whatsapp", "social"},
		{"https://www.perplexity.ai/", "perplexity", "ai"},
		{"https://perplexity.ai/search/abc", "perplexity", "ai"},
		{"https://chatgpt.com/", "chatgpt", "ai"},
		{"https://chat.openai.com/", "chatgpt", "ai"},
		{"https://copilot.microsoft.com/", "copilot", "ai"},
		{"https://gemini.google.com/", "gemini", "ai"},
		{"https://claude.ai/", "claude", "ai"},
		{"https://chat.deepseek.com/", "deepseek", "ai"},
		{"https://www.blog.example/", "blog.example", "referral"},
	}
	en := New(10)
	for _, c := range cases {
		var r Result
		en.Enrich(ev("https://shop.example/p", c.ref, firefox, nil), &r)
		if r.Source != c.source || r.Medium != c.medium {
			t.Errorf("from %s: %s / %s, want %s / %s", c.ref, r.Source, r.Medium, c.source, c.medium)
		}
	}
	// ChatGPT tags its links with its host alone: the same source as its
	// referrer. A tag with a medium stays the tag.
	for query, want := range map[string]string{
		"utm_source=chatgpt.com":                 "chatgpt / ai",
		"utm_source=perplexity.ai":               "perplexity / ai",
		"utm_source=chatgpt.com&utm_medium=paid": "chatgpt.com / paid",
		"utm_source=newsletter.example":          "newsletter.example / (not set)",
		"utm_source=google":                      "google / (not set)",
	} {
		var r Result
		en.Enrich(ev("https://shop.example/?"+query, "", firefox, nil), &r)
		if got := r.Source + " / " + r.Medium; got != want {
			t.Errorf("?%s: %s, want %s", query, got, want)
		}
	}
}

// TestNewAppReferrers: apps of both systems, browsers included.
func TestNewAppReferrers(t *testing.T) {
	cases := []struct{ ref, source, medium string }{
		{"android-app://com.google.android.apps.maps/", "google maps", "organic"},
		{"ios-app://585027354/comgooglemaps/", "google maps", "organic"},
		{"android-app://com.ecosia.android/", "ecosia", "organic"},
		{"ios-app://670881887/", "ecosia", "organic"},
		{"android-app://com.sec.android.app.sbrowser/", "samsung internet", "referral"},
		{"android-app://com.sec.android.app.sbrowser.beta/", "samsung internet", "referral"},
		{"android-app://com.microsoft.emmx/", "edge", "referral"},
		{"ios-app://1288723196/", "edge", "referral"},
		{"android-app://com.opera.browser/", "opera", "referral"},
		{"android-app://com.opera.mini.native/", "opera", "referral"},
		{"ios-app://1411869974", "opera", "referral"},
		{"android-app://com.brave.browser/", "brave", "organic"},
		{"ios-app://id1052879175/", "brave", "organic"},
		{"ios-app://284815942/", "google", "organic"},
		{"IOS-APP://422689480/googlegmail/", "gmail", "email"},
		{"ios-app://544007664/vnd.youtube/www.youtube.com/watch?v=1", "youtube", "social"},
		{"android-app://com.openai.chatgpt/", "chatgpt", "ai"},
		{"android-app://ai.perplexity.app.android/", "perplexity", "ai"},
		{"android-app://com.reddit.frontpage/", "reddit", "social"},
		{"android-app://com.whatsapp/", "whatsapp", "social"},
		{"ios-app://123456789/", "ios app 123456789", "referral"},
		{"ios-app://", "(direct)", "(none)"},
	}
	en := New(10)
	for _, c := range cases {
		var r Result
		en.Enrich(ev("https://shop.example/p", c.ref, firefox, nil), &r)
		if r.Source != c.source || r.Medium != c.medium {
			t.Errorf("from %s: %s / %s, want %s / %s", c.ref, r.Source, r.Medium, c.source, c.medium)
		}
	}
}

// TestHostsAndPathsInOneForm: an internationalised host is one host in
// either spelling, and a path in NFD is the NFC one.
func TestHostsAndPathsInOneForm(t *testing.T) {
	en := New(10)
	var a, b, c Result
	en.Enrich(ev("https://xn--caf-dma.example/cafe\u0301", "https://www.café.example/", firefox, nil), &a)
	en.Enrich(ev("https://CAFÉ.example/caf%C3%A9", "https://XN--CAF-DMA.example/cafe%CC%81/cr%C3%A8me", firefox, nil), &b)
	en.Enrich(ev("https://shop.example/", "https://xn--caf-dma.example/cafe%CC%81", firefox, nil), &c)
	if a.URLHost != "café.example" || b.URLHost != "café.example" || a.URLPath != "/café" || b.URLPath != "/café" {
		t.Errorf("hosts %q %q, paths %q %q, want café.example and /café", a.URLHost, b.URLHost, a.URLPath, b.URLPath)
	}
	if a.Source != "(internal)" || b.Source != "(internal)" {
		t.Errorf("from the site's other spelling: %s, %s", a.Source, b.Source)
	}
	if c.ReferrerHost != "café.example" || c.Source != "café.example" || c.Referrer != "https://xn--caf-dma.example/café" {
		t.Errorf("referrer host %q source %q referrer %q", c.ReferrerHost, c.Source, c.Referrer)
	}
	en.IgnoreReferrers([]string{"xn--bcher-kva.example"})
	en.Enrich(ev("https://shop.example/", "https://www.bücher.example/", firefox, nil), &c)
	if c.Source != "(internal)" {
		t.Errorf("an ignored host in punycode, the referrer in Unicode: %s", c.Source)
	}
}

func TestReferrerListLoads(t *testing.T) {
	db, err := loadReferrers()
	if err != nil {
		t.Fatal(err)
	}
	if len(db.hosts) < 800 {
		t.Errorf("%d hosts", len(db.hosts))
	}
}

// TestAffiliateNetworksAndSharedClickIDs: the affiliate networks' click
// ids name the network, medium affiliate, the id kept; Rakuten's merchant
// and publisher tags name it without an id; yclid is Yahoo! Japan's when
// the landing comes from yahoo.co.jp, Yandex's otherwise.
func TestAffiliateNetworksAndSharedClickIDs(t *testing.T) {
	en := New(10)
	for _, c := range []struct{ query, ref, source, medium, id string }{
		{"cjevent=abc123", "", "cj", "affiliate", "abc123"},
		{"CJEVENT=abc123", "https://www.example-blog.com/", "cj", "affiliate", "abc123"},
		{"awc=1234_1600000000_abc", "", "awin", "affiliate", "1234_1600000000_abc"},
		{"sscid=b1k5_xyz", "", "shareasale", "affiliate", "b1k5_xyz"},
		{"ranMID=42&ranEAID=a%2Fb&ranSiteID=a-b-c", "", "rakuten", "affiliate", "a-b-c"},
		{"clickref=pub1", "", "partnerize", "affiliate", "pub1"},
		{"tduid=7d1f", "", "tradedoubler", "affiliate", "7d1f"},
		{"irclickid=ir1", "", "impact", "affiliate", "ir1"},
		{"yclid=Y1", "https://search.yahoo.co.jp/search?p=shoes", "yahoo", "cpc", "Y1"},
		{"yclid=Y1", "https://yahoo.co.jp/", "yahoo", "cpc", "Y1"},
		{"yclid=Y1", "https://yandex.ru/", "yandex", "cpc", "Y1"},
		{"yclid=Y1", "", "yandex", "cpc", "Y1"},
		{"yclid=Y1", "https://notyahoo.co.jp/", "yandex", "cpc", "Y1"},
	} {
		var r Result
		en.Enrich(ev("https://shop.example/p?"+c.query, c.ref, firefox, nil), &r)
		if r.Source != c.source || r.Medium != c.medium || r.ClickID != c.id {
			t.Errorf("?%s from %q: %s / %s, click id %q; want %s / %s, %q", c.query, c.ref, r.Source, r.Medium, r.ClickID, c.source, c.medium, c.id)
		}
	}
}

// TestMessagingApps: the messaging apps' android-app:// and ios-app://
// referrers are named; text message apps are medium sms.
func TestMessagingApps(t *testing.T) {
	en := New(10)
	for _, c := range []struct{ ref, source, medium string }{
		{"android-app://com.google.android.apps.messaging/", "google messages", "sms"},
		{"android-app://com.google.android.apps.messaging", "google messages", "sms"},
		{"android-app://com.samsung.android.messaging/", "samsung messages", "sms"},
		{"android-app://com.android.mms/", "messages", "sms"},
		{"android-app://com.whatsapp/", "whatsapp", "social"},
		{"android-app://com.whatsapp.w4b/", "whatsapp", "social"},
		{"ios-app://310633997/", "whatsapp", "social"},
		{"android-app://org.telegram.messenger/", "telegram", "social"},
		{"ios-app://686449807/", "telegram", "social"},
		{"android-app://org.thoughtcrime.securesms/", "signal", "social"},
		{"ios-app://874139669/", "signal", "social"},
		{"android-app://com.viber.voip/", "viber", "social"},
		{"ios-app://382617920/", "viber", "social"},
		{"android-app://jp.naver.line.android/", "line", "social"},
		{"android-app://com.facebook.orca/", "facebook", "social"},
	} {
		var r Result
		en.Enrich(ev("https://shop.example/", c.ref, firefox, nil), &r)
		if r.Source != c.source || r.Medium != c.medium {
			t.Errorf("%s: %s / %s; want %s / %s", c.ref, r.Source, r.Medium, c.source, c.medium)
		}
	}
}

// TestCampaignWithoutSource: a campaign tagged without a source (Matomo's
// pk_campaign or mtm_campaign alone, utm_campaign alone) is a campaign
// touch, named by the campaign as Matomo does, whatever the referrer.
func TestCampaignWithoutSource(t *testing.T) {
	en := New(10)
	for _, c := range []struct{ query, ref, source, medium, campaign string }{
		{"pk_campaign=Spring", "", "spring", "campaign", "Spring"},
		{"mtm_campaign=Spring&mtm_medium=Email", "", "spring", "email", "Spring"},
		{"pk_cpn=Spring", "https://www.google.com/", "spring", "campaign", "Spring"},
		{"utm_campaign=Spring", "", "spring", "campaign", "Spring"},
		{"pk_campaign=Spring&pk_source=news", "", "news", "(not set)", "Spring"},
		{"pk_campaign=Spring&gclid=G", "", "google", "cpc", "Spring"},
		{"pk_campaign=", "", "(direct)", "(none)", ""},
	} {
		var r Result
		en.Enrich(ev("https://shop.example/p?"+c.query, c.ref, firefox, nil), &r)
		if r.Source != c.source || r.Medium != c.medium || r.UTMCampaign != c.campaign {
			t.Errorf("?%s from %q: %s / %s, campaign %q; want %s / %s, %q", c.query, c.ref, r.Source, r.Medium, r.UTMCampaign, c.source, c.medium, c.campaign)
		}
	}
	// The snippet sends the landing's pk_campaign with the session's later
	// events, which the collector stores as utm_campaign: still the campaign.
	var r Result
	en.Enrich(ev("https://shop.example/cart", "https://shop.example/p", firefox, map[event.Field]string{event.UTMCampaign: "Spring"}), &r)
	if r.Source != "spring" || r.Medium != "campaign" {
		t.Errorf("later event of the campaign's session: %s / %s", r.Source, r.Medium)
	}
}

// TestIgnoredReferrerKinds: by default a return from a payment provider's
// hosted page, a buy-now-pay-later provider, an iDEAL bank page or a
// sign-in page continues the visit, (internal); the same providers' other
// pages, and look-alike hosts, stay sources.
func TestIgnoredReferrerKinds(t *testing.T) {
	en := New(10)
	for _, ref := range []string{
		"https://www.mercadopago.com.ar/checkout/v1/redirect?pref_id=1", "https://www.mercadopago.com.br/", "https://mercadopago.com.mx/",
		"https://portal.afterpay.com/us/checkout/?token=1", "https://portal.clearpay.co.uk/uk/checkout", "https://checkout.scalapay.com/x",
		"https://www.affirm.com/", "https://sandbox.affirm.com/checkout", "https://checkout.getalma.eu/p", "https://zip.co/checkout",
		"https://shop.app/pay/authentication", "https://pay.shopify.com/x", "https://checkout.stripe.com/c/pay/cs_1",
		"https://checkoutshopper-live.adyen.com/x", "https://pay.mollie.com/x", "https://secure.ogone.com/ncol/prod/orderstandard.asp",
		"https://payment-webinit.worldline.com/x", "https://api.razorpay.com/v1/checkout", "https://secure.payu.in/_payment",
		"https://securegw.paytm.in/theia/processTransaction", "https://mijn.ing.nl/ideal/betalen?trxid=1", "https://ideal.ing.nl/x",
		"https://betalen.rabobank.nl/ideal", "https://www.abnamro.nl/ideal/x", "https://ideal.bunq.com/x", "https://www.ideal.nl/betalen",
		"https://accounts.google.com/o/oauth2/v2/auth", "https://login.microsoftonline.com/common/oauth2", "https://appleid.apple.com/auth/authorize",
		"https://www.facebook.com/dialog/oauth?client_id=1", "https://m.facebook.com/v19.0/dialog/oauth?client_id=1",
		"https://github.com/login/oauth/authorize", "https://dev-x.us.auth0.com/authorize", "https://acme.okta.com/oauth2/v1/authorize",
		"https://www.amazon.de/ap/signin?openid=1",
	} {
		var r Result
		en.Enrich(ev("https://shop.example/thanks", ref, firefox, nil), &r)
		if r.Source != "(internal)" {
			t.Errorf("%s: %s / %s, want (internal)", ref, r.Source, r.Medium)
		}
	}
	for ref, want := range map[string]string{
		"https://www.facebook.com/shop.example/posts/1": "facebook",
		"https://www.ing.nl/particulier/":               "ing.nl",
		"https://www.google.com/":                       "google",
		"https://www.amazon.de/dp/B01":                  "amazon.de",
		"https://notaffirm.com/":                        "notaffirm.com",
		"https://mercadopago.evil.example/":             "mercadopago.evil.example",
	} {
		var r Result
		en.Enrich(ev("https://shop.example/", ref, firefox, nil), &r)
		if r.Source != want {
			t.Errorf("%s: %s, want %s", ref, r.Source, want)
		}
	}
}

// TestReferralDoesNotAllocate: deciding a referral's source (internal,
// ignored, known or another site) allocates nothing once its hosts are
// known: the ignored referrers are looked up by name, and the Public
// Suffix List's answers (whose look-up allocates for a name) are kept
// per host.
func TestReferralDoesNotAllocate(t *testing.T) {
	en := New(100)
	for _, ref := range []string{"https://www.google.com/", "https://www.paypal.de/checkout", "https://m.facebook.com/v19.0/dialog/oauth",
		"https://blog.other.example/post", "https://www.shop.example/c", "https://checkout.shop.example/"} {
		e := ev("https://shop.example/shoes", ref, firefox, nil)
		var r Result
		en.Enrich(e, &r) // the hosts' first sighting fills the caches
		if n := testing.AllocsPerRun(100, func() { en.Enrich(e, &r) }); n != 0 {
			t.Errorf("%s: %v allocations a referral (%s)", ref, n, r.Source)
		}
	}
}

// TestSiteDomainsInternal: every domain the site registry lists for a
// site, with its subdomains, is an internal referrer of that site, of
// another registrable domain than the page's included; it takes no
// credit. Another site's domains, and a site the registry lacks, are not.
func TestSiteDomainsInternal(t *testing.T) {
	reg := sites.NewStatic(sites.Site{ID: "shop", Domains: []string{"shop.example", "shop.de", "boutique.co.uk"}},
		sites.Site{ID: "other", Domains: []string{"other.example"}})
	en := New(10)
	var cfg Config
	cfg.Sites = reg
	cfg.Apply(en)
	for _, c := range []struct{ site, page, ref, want string }{
		{"shop", "https://shop.de/p", "https://www.shop.example/c", "(internal)"},
		{"shop", "https://shop.example/p", "https://checkout.boutique.co.uk/pay", "(internal)"},
		{"shop", "https://shop.example/p", "https://SHOP.DE/", "(internal)"},
		{"shop", "https://shop.de/p", "https://other.example/x", "other.example"},
		{"other", "https://other.example/p", "https://www.shop.example/c", "shop.example"},
		{"nosuch", "https://shop.de/p", "https://www.shop.example/c", "shop.example"},
		{"shop", "https://shop.de/p", "https://notshop.example/", "notshop.example"},
	} {
		var r Result
		en.Enrich(ev(c.page, c.ref, firefox, map[event.Field]string{event.Site: c.site}), &r)
		if r.Source != c.want {
			t.Errorf("site %s, %s from %s: %s / %s, want %s", c.site, c.page, c.ref, r.Source, r.Medium, c.want)
		}
	}
	e := ev("https://shop.de/p", "https://www.shop.example/c", firefox, map[event.Field]string{event.Site: "shop"})
	var r Result
	if n := testing.AllocsPerRun(100, func() { en.siteDomain(e.F[event.Site], "www.shop.example") }); n != 0 {
		t.Errorf("the site's domains looked up with %v allocations", n)
	}
	if en.Enrich(e, &r); r.Source != "(internal)" {
		t.Errorf("%s", r.Source)
	}
}
