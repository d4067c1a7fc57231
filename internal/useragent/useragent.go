// Package useragent classifies a User-Agent header into browser, major
// version, operating system, device class and a bot flag. Browsers and
// systems are a small ordered rule list, not a full database: it names what
// a shop's traffic report needs and says "Other" for the rest. Bots come
// from a maintained crawler list (see IsBot).
package useragent

import (
	"bytes"
	"strings"

	"github.com/x-way/crawlerdetect"
)

// Info is what a user agent says about the client.
type Info struct {
	Browser        string
	BrowserVersion string // major version only
	OS             string
	Device         string // desktop, mobile, tablet, bot
	Bot            bool
}

// IsBot reports whether ua belongs to an automated client: a search
// engine's or an ad platform's crawler, a link preview, a monitor, a
// headless browser, an HTTP library. The patterns are Crawler-Detect's
// (JayBizzle/Crawler-Detect, through github.com/x-way/crawlerdetect: over a
// thousand crawlers, kept current by their maintainers, with exclusions
// for browsers and devices whose names contain bot-like words). Before the
// match, the device model of an Android user agent is blanked: a phone's
// model is its maker's name (CUBOT P80, POWER BOT, Robot X), never a
// crawler's mark, and crawlers that pose as a phone say who they are
// elsewhere (Googlebot's smartphone agent, AdsBot-Google-Mobile). An empty
// user agent is a bot: every browser sends one.
//
// A match costs tens to hundreds of microseconds and allocates: callers
// that see a user agent often remember the answer (the collector's bot
// cache, the processor's user-agent cache).
func IsBot(ua []byte) bool {
	if len(bytes.TrimSpace(ua)) == 0 {
		return true
	}
	for _, f := range assistantFetchers {
		if bytes.Contains(ua, []byte(f)) {
			return true
		}
	}
	return crawlerdetect.IsCrawler(withoutDeviceModel(string(ua)))
}

// assistantFetchers are AI assistants' fetchers that Crawler-Detect does
// not list yet (its own list has ChatGPT-User, Claude-User,
// MistralAI-User): each fetches a page for a person who asked the
// assistant, and nobody views it, so its hit is no page view. Drop a name
// here when the crawler list gains it.
var assistantFetchers = []string{
	"Perplexity-User",   // perplexity.ai/perplexity-user
	"Google-NotebookLM", // Google's user-triggered fetchers
}

// WithoutDeviceModel is ua with an Android device model blanked (see
// withoutDeviceModel), for rules that look for words a phone's name may
// hold ("bot", "spider", a vendor's name).
func WithoutDeviceModel(ua string) string { return withoutDeviceModel(ua) }

// withoutDeviceModel blanks the device model in the first comment of an
// Android user agent: "(Linux; Android 13; CUBOT P80)" becomes
// "(Linux; Android 13; )", and "(Linux; U; Android 12; en-us; ROBOT X
// Build/SP1A; wv)" keeps all but "ROBOT X". The model is the field that
// holds " Build/" (the part before it), else the first field after the
// Android version that is not a locale or a flag. Other user agents are
// returned as they are.
func withoutDeviceModel(ua string) string {
	open := strings.IndexByte(ua, '(')
	if open < 0 {
		return ua
	}
	end := strings.IndexByte(ua[open:], ')')
	if end < 0 {
		end = len(ua) - open
	}
	comment := ua[open : open+end]
	a := strings.Index(comment, "Android")
	if a < 0 {
		return ua
	}
	semi := strings.IndexByte(comment[a:], ';')
	if semi < 0 {
		return ua // "(Linux; Android 13)": no model
	}
	from := open + a + semi + 1 // fields after the Android version
	fields := strings.Split(ua[from:open+end], ";")
	model := -1
	for i, f := range fields {
		if strings.Contains(f, " Build/") || strings.HasPrefix(strings.TrimSpace(f), "Build/") {
			model = i
			break
		}
	}
	if model < 0 {
		for i, f := range fields {
			if f = strings.TrimSpace(f); !isLocaleOrFlag(f) {
				model = i
				break
			}
		}
	}
	if model < 0 {
		return ua
	}
	f := fields[model]
	if b := strings.Index(f, "Build/"); b >= 0 {
		f = f[b:]
	} else {
		f = ""
	}
	fields[model] = " " + f
	return ua[:from] + strings.Join(fields, ";") + ua[open+end:]
}

// isLocaleOrFlag reports whether an Android comment field is a language
// (en, en-us, zh_CN), the "U" security flag, "wv" (WebView) or "K" (the
// reduced user agent's model), none of which is a device model.
func isLocaleOrFlag(f string) bool {
	switch f {
	case "", "U", "I", "N", "wv", "K":
		return true
	}
	if len(f) == 2 || (len(f) == 5 && (f[2] == '-' || f[2] == '_')) {
		for i := 0; i < len(f); i++ {
			if c := f[i] | 0x20; i != 2 && (c < 'a' || c > 'z') {
				return false
			}
		}
		return true
	}
	return false
}

type browserRule struct {
	mark, name string
}

// Order matters: Edge and Opera also say Chrome, Chrome also says Safari.
var browsers = []browserRule{
	{"Edg/", "Edge"}, {"EdgA/", "Edge"}, {"EdgiOS/", "Edge"},
	{"OPR/", "Opera"}, {"SamsungBrowser/", "Samsung Internet"},
	{"YaBrowser/", "Yandex"}, {"Firefox/", "Firefox"}, {"FxiOS/", "Firefox"},
	{"CriOS/", "Chrome"}, {"Chrome/", "Chrome"}, {"Version/", "Safari"},
}

// Parse classifies ua. Strings in the result are constants or the version
// digits, so a caller caching by user agent keeps the memory small.
func Parse(ua string) Info {
	var in Info
	if IsBot([]byte(ua)) {
		return Info{Browser: "Bot", OS: "Other", Device: "bot", Bot: true}
	}
	in.Browser = "Other"
	for _, r := range browsers {
		i := indexOf(ua, r.mark)
		if i < 0 {
			continue
		}
		if r.name == "Safari" && indexOf(ua, "Safari/") < 0 {
			continue
		}
		in.Browser = r.name
		v := ua[i+len(r.mark):]
		end := 0
		for end < len(v) && v[end] >= '0' && v[end] <= '9' {
			end++
		}
		in.BrowserVersion = v[:end]
		break
	}
	switch {
	case contains(ua, "Windows"):
		in.OS = "Windows"
	case contains(ua, "iPhone"), contains(ua, "iPad"), contains(ua, "iPod"):
		in.OS = "iOS"
	case contains(ua, "Android"):
		in.OS = "Android"
	case contains(ua, "CrOS"):
		in.OS = "Chrome OS"
	case contains(ua, "Mac OS X"), contains(ua, "Macintosh"):
		in.OS = "macOS"
	case contains(ua, "Linux"):
		in.OS = "Linux"
	default:
		in.OS = "Other"
	}
	switch {
	case contains(ua, "iPad"), contains(ua, "Tablet"),
		in.OS == "Android" && !contains(ua, "Mobile"):
		in.Device = "tablet"
	case contains(ua, "Mobi"), contains(ua, "iPhone"), contains(ua, "iPod"):
		in.Device = "mobile"
	default:
		in.Device = "desktop"
	}
	return in
}

func contains(s, sub string) bool { return indexOf(s, sub) >= 0 }

func indexOf(s, sub string) int {
	n := len(sub)
	for i := 0; i+n <= len(s); i++ {
		if s[i:i+n] == sub {
			return i
		}
	}
	return -1
}
