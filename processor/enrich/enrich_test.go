package enrich

import (
	"net/url"
	"strings"
	"testing"

	"footfall/internal/event"
	"footfall/internal/geoip"
	"footfall/internal/geoip/geoiptest"
)

func ev(url, ref, ua string, fields map[event.Field]string) *event.Event {
	e := &event.Event{}
	e.F[event.URL] = []byte(url)
	e.F[event.Referrer] = []byte(ref)
	e.F[event.UserAgent] = []byte(ua)
	for f, v := range fields {
		e.F[f] = []byte(v)
	}
	return e
}

const firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0"

func TestSourceAndURL(t *testing.T) {
	cases := []struct {
		name, url, ref  string
		fields          map[event.Field]string
		host, path      string
		source, medium  string
		campaign, affil string
	}{
		{"direct", "https://Shop.Example:8443/p/42?x=1#top", "", nil, "shop.example", "/p/42", "(direct)", "(none)", "", ""},
		{"root path", "https://shop.example", "", nil, "shop.example", "/", "(direct)", "(none)", "", ""},
		{"internal", "https://shop.example/b", "https://shop.example/a", nil, "shop.example", "/b", "(internal)", "(internal)", "", ""},
		{"google fr", "https://shop.example/", "https://www.google.fr/", nil, "shop.example", "/", "google", "organic", "", ""},
		{"gmail is email", "https://shop.example/", "https://mail.google.com/mail/u/0/", nil, "shop.example", "/", "gmail", "email", "", ""},
		{"social", "https://shop.example/", "https://t.co/abc", nil, "shop.example", "/", "twitter", "social", "", ""},
		{"plain referral", "https://shop.example/", "https://www.blog.example/post", nil, "shop.example", "/", "blog.example", "referral", "", ""},
		{"utm in url", "https://shop.example/?utm_source=Newsletter&utm_medium=email&utm_campaign=spring%20sale", "https://mail.google.com/", nil,
			"shop.example", "/", "newsletter", "email", "spring sale", ""},
		{"utm fields win over url", "https://shop.example/?utm_source=a", "", map[event.Field]string{event.UTMSource: "partner", event.UTMMedium: "affiliate"},
			"shop.example", "/", "partner", "affiliate", "", ""},
		{"gclid", "https://shop.example/?gclid=XYZ", "https://www.google.com/", nil, "shop.example", "/", "google", "cpc", "", ""},
		{"affiliate", "https://shop.example/?aff=julie42&ref=partnersite", "", nil, "shop.example", "/", "partnersite", "referral", "", "julie42"},
		{"no url", "", "", nil, "", "", "(direct)", "(none)", "", ""},
	}
	en := New(10)
	var landing Result
	en.Enrich(ev("https://shop.example/sale?utm_campaign=spring&ff_rt=AbCdEfGhIjKlMnOpQrStUv", "", firefox, nil), &landing)
	if landing.RecipientToken != "AbCdEfGhIjKlMnOpQrStUv" || landing.UTMCampaign != "spring" {
		t.Errorf("landing from a newsletter: %+v", landing)
	}
	for _, c := range cases {
		var r Result
		en.Enrich(ev(c.url, c.ref, firefox, c.fields), &r)
		if r.URLHost != c.host || r.URLPath != c.path || r.Source != c.source || r.Medium != c.medium ||
			r.UTMCampaign != c.campaign || r.Affiliate != c.affil {
			t.Errorf("%s: got host=%q path=%q source=%q medium=%q campaign=%q aff=%q", c.name,
				r.URLHost, r.URLPath, r.Source, r.Medium, r.UTMCampaign, r.Affiliate)
		}
	}
}

func TestUserAgentCacheBounded(t *testing.T) {
	en := New(2)
	var r Result
	for _, ua := range []string{firefox, "a/1", "b/1", "c/1", "d/1"} {
		en.Enrich(ev("", "", ua, nil), &r)
	}
	if n := len(en.ua.young) + len(en.ua.old); n > 4 {
		t.Fatalf("cache holds %d entries with size 2", n)
	}
	en.Enrich(ev("", "", firefox, nil), &r)
	if r.UA.Browser != "Firefox" || r.UA.OS != "Linux" {
		t.Fatalf("ua %+v", r.UA)
	}
}

// BenchmarkEnrich enriches a page view with campaign tags (its source is
// the tags') and one a search engine referred without tags (its source is
// decided from the referrer: internal, the ignored referrers, the known
// ones).
func BenchmarkEnrich(b *testing.B) {
	for _, c := range []struct{ name, url string }{
		{"campaign", "https://shop.example/p/42?utm_source=news&utm_campaign=spring"},
		{"referral", "https://shop.example/shoes/trail-runner"},
	} {
		b.Run(c.name, func(b *testing.B) {
			en := New(100)
			e := ev(c.url, "https://www.google.com/", firefox, nil)
			var r Result
			b.ReportAllocs()
			for b.Loop() {
				en.Enrich(e, &r)
			}
		})
	}
}

func TestPersonFields(t *testing.T) {
	cases := []struct {
		visitor, user     string
		wantVisitor, want string
	}{
		{"v1", " Ann@Shop.Example ", "v1", "ann@shop.example"},
		{"", "ann@shop.example", "u:ann@shop.example", "ann@shop.example"},
		{"", "Cust-42", "u:Cust-42", "Cust-42"},
		{"v2", "", "v2", ""},
		{"", "", "", ""},
	}
	en := New(10)
	var landing Result
	en.Enrich(ev("https://shop.example/sale?utm_campaign=spring&ff_rt=AbCdEfGhIjKlMnOpQrStUv", "", firefox, nil), &landing)
	if landing.RecipientToken != "AbCdEfGhIjKlMnOpQrStUv" || landing.UTMCampaign != "spring" {
		t.Errorf("landing from a newsletter: %+v", landing)
	}
	server := ev("", "", "", nil)
	server.Ingest = event.IngestAPI
	var order Result
	en.Enrich(server, &order)
	if order.UA.Bot {
		t.Error("a server API event without a user agent is taken for a bot")
	}
	for _, c := range cases {
		var r Result
		en.Enrich(ev("", "", firefox, map[event.Field]string{event.VisitorID: c.visitor, event.UserID: c.user}), &r)
		if r.VisitorID != c.wantVisitor || r.UserID != c.want {
			t.Errorf("visitor %q user %q: got visitor %q user %q, want %q %q", c.visitor, c.user, r.VisitorID, r.UserID, c.wantVisitor, c.want)
		}
	}
}

func TestCountry(t *testing.T) {
	path, err := geoiptest.WriteTestDB(t.TempDir(), map[string]string{"81.2.69.0/24": "GB"})
	if err != nil {
		t.Fatal(err)
	}
	db, err := geoip.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var r Result
	en := New(0)
	e := ev("", "", firefox, nil)
	e.F[event.IP] = []byte("81.2.69.0")
	if en.Enrich(e, &r); r.Country != "" {
		t.Errorf("country %q without a database", r.Country)
	}
	en.UseGeoIP(db)
	for _, ip := range []string{"81.2.69.0", "81.2.69.0", "8.8.8.0"} { // the second from the cache
		e.F[event.IP] = []byte(ip)
		en.Enrich(e, &r)
		want := map[string]string{"81.2.69.0": "GB"}[ip]
		if r.Country != want {
			t.Errorf("%s: country %q, want %q", ip, r.Country, want)
		}
	}
}

// TestLongCampaignValueCut: a campaign parameter's value over its bound is
// cut (event.CutValue, on a character), not dropped: the medium and the
// campaign stay, as the collector's shortened URL keeps them.
func TestLongCampaignValueCut(t *testing.T) {
	long := strings.Repeat("é", 300) // 600 bytes
	en := New(10)
	var r Result
	en.Enrich(ev("https://shop.example/p?utm_source=longval&utm_medium=mail&utm_campaign="+url.QueryEscape(long)+
		"&aff="+strings.Repeat("a", 500), "", firefox, nil), &r)
	if r.UTMCampaign != strings.Repeat("é", 128) || r.Medium != "mail" || r.Source != "longval" || r.Affiliate != strings.Repeat("a", 128) {
		t.Errorf("campaign %d bytes %q, source %q / %q, affiliate %d bytes", len(r.UTMCampaign), r.UTMCampaign[:min(10, len(r.UTMCampaign))], r.Source, r.Medium, len(r.Affiliate))
	}
	// The collector's shortened URL gives the same values.
	short := event.AppendShortURL(nil, []byte("https://shop.example/p?utm_source=longval&utm_campaign="+strings.Repeat("c", 2100)), 2048)
	en.Enrich(ev(string(short), "", firefox, nil), &r)
	if r.UTMCampaign != strings.Repeat("c", 256) || r.Source != "longval" {
		t.Errorf("through the collector: campaign %d bytes, source %q", len(r.UTMCampaign), r.Source)
	}
}
