package useragent

import "testing"

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

func TestIsBotNoAlloc(t *testing.T) {
	ua := []byte("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36")
	if n := testing.AllocsPerRun(100, func() { IsBot(ua) }); n != 0 {
		t.Errorf("IsBot allocates %v times", n)
	}
}
