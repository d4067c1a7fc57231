package recipients

import "testing"

func TestOpenKind(t *testing.T) {
	cases := []struct{ ua, ip, want string }{
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)", "17.58.1.0", OpenApple},
		{"Mozilla/5.0", "17.1.2.0", OpenApple},
		{"Mozilla/5.0", "203.0.113.0", OpenScanner},
		{"", "203.0.113.0", OpenScanner},
		{"Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)", "66.249.84.0", OpenProxy},
		{"YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html", "98.136.0.0", OpenProxy},
		{"Mozilla/5.0 (compatible; Barracuda Sentinel)", "64.235.144.0", OpenScanner},
		{"python-requests/2.31", "198.51.100.0", OpenScanner},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36", "203.0.113.0", OpenHuman},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148", "2001:db8::", OpenHuman},
		// Gmail's proxy as the web and the apps send it: a person opening.
		{"Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com)", "66.102.8.0", OpenProxy},
		{"Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) GoogleImageProxy", "74.125.0.0", OpenProxy},
		// A phone whose name holds "bot" reads its mail; robots do not.
		{"Mozilla/5.0 (Linux; Android 13; CUBOT P80) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.82 Mobile Safari/537.36", "203.0.113.0", OpenHuman},
		{"Mozilla/5.0 (Linux; Android 11; POWER BOT Build/RP1A.200720.011; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/120.0.6099.144 Mobile Safari/537.36", "203.0.113.0", OpenHuman},
		{"Mozilla/5.0 (Linux; Android 12; Bot-Phone) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36", "203.0.113.0", OpenHuman},
		{"Mozilla/5.0 (Linux; Android 13; Spider-Man Edition) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36", "203.0.113.0", OpenHuman},
		{"Mozilla/5.0 (Linux; Android 10; Cisco Webex Desk Build/QP1A.190711.020) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36", "203.0.113.0", OpenHuman},
		{"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "66.249.66.0", OpenScanner},
		{"Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", "157.55.39.0", OpenScanner},
	}
	for _, c := range cases {
		if got := OpenKind(c.ua, c.ip); got != c.want {
			t.Errorf("%q from %s: %s, want %s", c.ua, c.ip, got, c.want)
		}
	}
}

func TestPersonOpen(t *testing.T) {
	for kind, want := range map[string]bool{OpenHuman: true, OpenProxy: true, OpenApple: false, OpenScanner: false} {
		if PersonOpen(kind) != want {
			t.Errorf("%s: person %v", kind, !want)
		}
	}
}
