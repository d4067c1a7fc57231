package beacon

import (
	"bytes"
	"testing"

	"footfall/internal/sites"
)

// TestPlusInPixelSiteID: in a hand-written pixel URL, site=a+b asks for
// the site "a b" (a + in a query string is a space), which no site can be
// (new ids are letters, digits, _ . -: sites.NewIDRule). The pixel still
// answers its image, names the reason and counts it; a site made before
// the rule with a + in its id is reached with the + escaped (a%2Bb).
func TestPlusInPixelSiteID(t *testing.T) {
	q := &queue{}
	h := New(Config{Sites: sites.NewStatic(sites.Site{ID: "a+b", TimeZone: "UTC", Currency: "EUR"}), CookielessSecret: []byte("salt")}, q, nil)
	// and any other id the event refuses (a space, <, /, a NUL)
	for _, id := range []string{"a+b", "a%20b", "a%3Cb", "a%2Fb", "a%00b", "%C3%A9"} {
		before := counter(rejected[epPixel][rsUnknownSite])
		c := do(h, req{method: "GET", uri: "/p.gif?site=" + id})
		if c.Response.StatusCode() != 200 || !bytes.Equal(c.Response.Body(), GIF) || string(c.Response.Header.Peek("X-Footfall-Rejected")) != "unknown_site" {
			t.Errorf("site=%s: %d %q %q", id, c.Response.StatusCode(), c.Response.Body(), c.Response.Header.Peek("X-Footfall-Rejected"))
		}
		if len(q.got) != 0 || counter(rejected[epPixel][rsUnknownSite]) != before+1 {
			t.Errorf("site=%s: %d queued, unknown_site counted %v times", id, len(q.got), counter(rejected[epPixel][rsUnknownSite])-before)
		}
	}
	if c := do(h, req{method: "GET", uri: "/p.gif?site=a%2Bb"}); c.Response.StatusCode() != 200 || len(q.got) != 1 {
		t.Errorf("site=a%%2Bb: %d, %d queued", c.Response.StatusCode(), len(q.got))
	}
	if err := sites.ValidNewID("a+b"); err == nil {
		t.Error("a new site may be called a+b")
	}
}
