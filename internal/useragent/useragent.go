// Package useragent classifies a User-Agent header into browser, major
// version, operating system, device class and a bot flag. It is a small
// ordered rule list, not a full database: it names what a shop's traffic
// report needs and says "Other" for the rest.
package useragent

import "bytes"

// Info is what a user agent says about the client.
type Info struct {
	Browser        string
	BrowserVersion string // major version only
	OS             string
	Device         string // desktop, mobile, tablet, bot
	Bot            bool
}

// botMarks are substrings that identify automated clients, matched
// case-insensitively. The list favours false negatives: a real visitor
// dropped as a bot is lost, a bot counted is only noise.
var botMarks = [][]byte{
	[]byte("bot"), []byte("crawl"), []byte("spider"), []byte("slurp"),
	[]byte("headlesschrome"), []byte("phantomjs"), []byte("lighthouse"),
	[]byte("pingdom"), []byte("uptime"), []byte("monitor"), []byte("preview"),
	[]byte("facebookexternalhit"), []byte("python-requests"), []byte("python-urllib"),
	[]byte("go-http-client"), []byte("curl/"), []byte("wget/"), []byte("httpclient"),
	[]byte("java/"), []byte("okhttp"), []byte("scrapy"), []byte("axios/"), []byte("node-fetch"),
}

// IsBot reports whether ua belongs to an automated client. An empty user
// agent is a bot: every browser sends one. It does not allocate.
func IsBot(ua []byte) bool {
	if len(ua) == 0 {
		return true
	}
	var lower [512]byte
	n := copy(lower[:], ua)
	l := lower[:n]
	for i, c := range l {
		if c >= 'A' && c <= 'Z' {
			l[i] = c + 'a' - 'A'
		}
	}
	for _, m := range botMarks {
		if bytes.Contains(l, m) {
			return true
		}
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
