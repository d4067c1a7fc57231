package useragent

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	cases := []struct {
		ua   string
		want Info
	}{
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
			Info{"Chrome", "126", "Windows", "desktop", false}},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.2592.87",
			Info{"Edge", "126", "Windows", "desktop", false}},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
			Info{"Safari", "17", "iOS", "mobile", false}},
		{"Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
			Info{"Safari", "17", "iOS", "tablet", false}},
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
			Info{"Safari", "17", "macOS", "desktop", false}},
		{"Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
			Info{"Firefox", "127", "Linux", "desktop", false}},
		{"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.6478.122 Mobile Safari/537.36",
			Info{"Chrome", "126", "Android", "mobile", false}},
		{"Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/25.0 Chrome/121.0.0.0 Safari/537.36",
			Info{"Samsung Internet", "25", "Android", "tablet", false}},
		{"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
			Info{"Bot", "", "Other", "bot", true}},
		{"curl/8.5.0", Info{"Bot", "", "Other", "bot", true}},
		{"", Info{"Bot", "", "Other", "bot", true}},
		{"SomethingNew/1.0", Info{"Other", "", "Other", "desktop", false}},
	}
	for _, c := range cases {
		if got := Parse(c.ua); got != c.want {
			t.Errorf("Parse(%q)\n got %+v\nwant %+v", c.ua, got, c.want)
		}
	}
}

// Real phones and browsers whose names hold bot-like words are people.
var people = []string{
	"Mozilla/5.0 (Linux; Android 13; CUBOT P80) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.82 Mobile Safari/537.36",
	"Mozilla/5.0 (Linux; Android 12; CUBOT KINGKONG 7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36",
	"Mozilla/5.0 (Linux; Android 10; Cubot_X30 Build/QP1A.190711.020; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/124.0.0.0 Mobile Safari/537.36",
	"Mozilla/5.0 (Linux; Android 10; M bot 51) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36",
	"Mozilla/5.0 (Linux; Android 9; POWER BOT) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36",
	"Mozilla/5.0 (Linux; Android 11; ROBOT X) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36",
	"Mozilla/5.0 (Linux; Android 12; Robot Vacuum Build/SP1A) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36",
	"Mozilla/5.0 (Linux; Android 8.1.0; IDbot553) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36",
	"Mozilla/5.0 (Linux; U; Android 12; zh-cn; Spider Reader Build/SP1A.210812.016) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/100.0.4896.127 Mobile Safari/537.36",
	"Mozilla/5.0 (Linux; Android 13; Crawler X1) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36",
	"Mozilla/5.0 (Linux; Android 14; SM-S911B Build/UP1A.231005.007; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/126.0.6478.71 Mobile Safari/537.36 [FB_IAB/FB4A;FBAV/471.0.0.35.84;]",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Instagram 337.0.0.17.94 (iPhone14,5; iOS 17_5; en_US; en; scale=3.00; 1170x2532; 616379834)",
	"Mozilla/5.0 (Linux; Android 14; Pixel 8 Build/AP2A.240705.005; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/126.0.6478.122 Mobile Safari/537.36 GSA/15.27.37.29.arm64",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 OPR/111.0.0.0",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
}

// Current crawlers of the big search engines, ad platforms, social
// networks' link previews, AI crawlers, monitors and HTTP libraries.
var crawlers = []string{
	"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
	"Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.6478.126 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
	"Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.6478.126 Mobile Safari/537.36 (compatible; Google-InspectionTool/1.0;)",
	"Mozilla/5.0 (compatible; GoogleOther)",
	"Mozilla/5.0 (X11; Linux x86_64; Storebot-Google/1.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/79.0.3945.88 Safari/537.36",
	"AdsBot-Google (+http://www.google.com/adsbot.html)",
	"Mozilla/5.0 (Linux; Android 5.0; SM-G920A) AppleWebKit (KHTML, like Gecko) Chrome Mobile Safari (compatible; AdsBot-Google-Mobile; +http://www.google.com/mobile/adsbot.html)",
	"Mediapartners-Google",
	"Googlebot-Image/1.0",
	"FeedFetcher-Google; (+http://www.google.com/feedfetcher.html)",
	"APIs-Google (+https://developers.google.com/webmasters/APIs-Google.html)",
	"Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm) Chrome/116.0.1938.76 Safari/537.36",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/91.0.4472.114 Safari/537.36 Edg/91.0.864.54 BingPreview/1.0b",
	"Mozilla/5.0 (compatible; adidxbot/2.0; +http://www.bing.com/bingbot.htm)",
	"DuckDuckBot/1.1; (+http://duckduckgo.com/duckduckbot.html)",
	"Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)",
	"Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1 (Applebot/0.1; +http://www.apple.com/go/applebot)",
	"facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
	"meta-externalagent/1.1 (+https://developers.facebook.com/docs/sharing/webmasters/crawler)",
	"Pinterestbot/1.0 (+http://www.pinterest.com/bot.html)",
	"LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
	"Twitterbot/1.0",
	"Mozilla/5.0 (Linux; Android 5.0) AppleWebKit/537.36 (KHTML, like Gecko) Mobile Safari/537.36 (compatible; TikTokSpider; ttspider-feedback@tiktok.com)",
	"Mozilla/5.0 (compatible; Bytespider; spider-feedback@bytedance.com)",
	"Snap URL Preview Service; bot; snapchat; https://developers.snap.com/robots",
	"Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; Amazonbot/0.1; +https://developer.amazon.com/support/amazonbot) Chrome/119.0.6045.214 Safari/537.36",
	"Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)",
	"Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko); compatible; ChatGPT-User/1.0; +https://openai.com/bot",
	"Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; ClaudeBot/1.0; +claudebot@anthropic.com)",
	"Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; PerplexityBot/1.0; +https://perplexity.ai/perplexitybot)",
	"Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; Perplexity-User/1.0; +https://perplexity.ai/perplexity-user)",
	"Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; Claude-User/1.0; +Claude-User@anthropic.com)",
	"Mozilla/5.0 (compatible; MistralAI-User/1.0; +https://docs.mistral.ai/robots)",
	"Mozilla/5.0 (compatible; Google-NotebookLM)",
	"Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)",
	"Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
	"Mozilla/5.0 (compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)",
	"Mozilla/5.0 (Linux; Android 7.0; Moto G (4)) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36 Chrome-Lighthouse",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/126.0.0.0 Safari/537.36",
	"Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
	"WhatsApp/2.23.20.0",
	"python-requests/2.32.3", "Go-http-client/1.1", "curl/8.5.0", "Wget/1.21.4", "okhttp/4.12.0", "axios/1.7.2",
	"",
	"   ",
}

func TestIsBot(t *testing.T) {
	for _, ua := range people {
		if IsBot([]byte(ua)) {
			t.Errorf("a person taken for a bot: %q", ua)
		}
	}
	for _, ua := range crawlers {
		if !IsBot([]byte(ua)) {
			t.Errorf("a crawler taken for a person: %q", ua)
		}
	}
}

// TestCrawlerDetectCorpus runs the crawler list's own corpus: every
// device in it is a person, every crawler a bot, with the device model
// blanked as IsBot does (one device in 40, to keep the test short). It
// reads the corpus from the module cache, and is skipped where the go
// command cannot say where that is.
func TestCrawlerDetectCorpus(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/x-way/crawlerdetect").Output()
	dir := strings.TrimSpace(string(out))
	if err != nil || dir == "" {
		t.Skipf("the crawler list's module is not in the cache: %v", err)
	}
	for file, bot := range map[string]bool{"devices.txt": false, "crawlers.txt": true} {
		data, err := os.ReadFile(filepath.Join(dir, "testdata", file))
		if err != nil {
			t.Skip(err)
		}
		n, wrong := 0, 0
		for i, ua := range strings.Split(string(data), "\n") {
			if strings.TrimSpace(ua) == "" || (!bot && i%40 != 0) || modelOnlyCrawlers[ua] {
				continue
			}
			n++
			if IsBot([]byte(ua)) != bot {
				wrong++
				if wrong <= 10 {
					t.Errorf("%s: IsBot(%q) = %v", file, ua, !bot)
				}
			}
		}
		t.Logf("%s: %d user agents, %d wrong", file, n, wrong)
	}
}

// modelOnlyCrawlers name themselves only in the device model's place, which
// IsBot does not read: missing them is the price of never taking a phone
// for a bot.
var modelOnlyCrawlers = map[string]bool{
	// The list names this scraper by the model it fakes, "OPPO A33".
	"Mozilla/5.0(Linux;Android 5.1.1;OPPO A33 Build/LMY47V;wv) AppleWebKit/537.36(KHTML,link Gecko) Version/4.0 Chrome/43.0.2357.121 Mobile Safari/537.36 LieBaoFast/4.51.3": true,
	"Mozilla/5.0 (Linux; U; Android 4.1.2; cs-cz; Seznam screenshot-generator Build/Q3) AppleWebKit/534.30 (KHTML, like Gecko) Version/4.0 Mobile Safari/534.30":             true,
}

func TestWithoutDeviceModel(t *testing.T) {
	for in, want := range map[string]string{
		"Mozilla/5.0 (Linux; Android 13; CUBOT P80) AppleWebKit/537.36": "Mozilla/5.0 (Linux; Android 13; ) AppleWebKit/537.36",
		"Mozilla/5.0 (Linux; Android 13) AppleWebKit/537.36":            "Mozilla/5.0 (Linux; Android 13) AppleWebKit/537.36",
		"Mozilla/5.0 (X11; Linux x86_64) Firefox/127.0":                 "Mozilla/5.0 (X11; Linux x86_64) Firefox/127.0",
		"Googlebot/2.1":                        "Googlebot/2.1",
		"Mozilla/5.0 (Linux; Android 13; open": "Mozilla/5.0 (Linux; Android 13; ",
		"Mozilla/5.0 (Linux; U; Android 12; en-us; ROBOT X Build/SP1A; wv) AppleWebKit":                      "Mozilla/5.0 (Linux; U; Android 12; en-us; Build/SP1A; wv) AppleWebKit",
		"Mozilla/5.0 (Linux; Android 4.3; Galaxy Nexus Build/JWR66Y; GTmetrix https://gtmetrix.com/) Chrome": "Mozilla/5.0 (Linux; Android 4.3; Build/JWR66Y; GTmetrix https://gtmetrix.com/) Chrome",
		"Mozilla/5.0 (Linux; Android 10; K) AppleWebKit":                                                     "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit",
	} {
		if got := withoutDeviceModel(in); got != want {
			t.Errorf("withoutDeviceModel(%q) = %q, want %q", in, got, want)
		}
	}
}
