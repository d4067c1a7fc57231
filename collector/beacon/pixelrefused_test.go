package beacon

import (
	"bytes"
	"testing"
)

// TestPixelRefusalIsAnImage: whatever is wrong with a pixel hit (no site,
// an unknown key, a bad amount, an unknown site, a HEAD), the pixel
// answers its GIF with 200 (an <img> or an e-mail's image proxy shows an
// error status as a broken image), the reason in X-Footfall-Rejected and
// the message in X-Footfall-Error, and the refusal is counted.
func TestPixelRefusalIsAnImage(t *testing.T) {
	for _, c := range []struct {
		r           req
		reason, msg string
	}{
		{req{method: "GET", uri: "/p.gif?url=x"}, "invalid", "site is required"},
		{req{method: "HEAD", uri: "/p.gif"}, "invalid", "site is required"},
		{req{method: "GET", uri: "/p.gif?site=shop&sorce=news"}, "unknown_key", `unknown key "sorce"`},
		{req{method: "GET", uri: "/p.gif?site=shop&type=purchase&revenue=100"}, "invalid", "revenue needs a currency"},
		{req{method: "GET", uri: "/p.gif?site=shop&visitor_id=a%00"}, "invalid", "visitor_id"},
		{req{method: "GET", uri: "/p.gif?site=nosuchsite"}, "unknown_site", ""},
	} {
		q := &queue{}
		r := reasonOf(c.reason)
		before := counterValue(t, rejected[epPixel][r])
		ctx := do(newHandler(q), c.r)
		if ctx.Response.StatusCode() != 200 || string(ctx.Response.Header.ContentType()) != "image/gif" ||
			c.r.method == "GET" && !bytes.Equal(ctx.Response.Body(), GIF) {
			t.Errorf("%s %s: %d %q %q, want 200 and the GIF", c.r.method, c.r.uri, ctx.Response.StatusCode(), ctx.Response.Header.ContentType(), ctx.Response.Body())
		}
		if got := string(ctx.Response.Header.Peek("X-Footfall-Rejected")); got != c.reason {
			t.Errorf("%s: X-Footfall-Rejected %q, want %q", c.r.uri, got, c.reason)
		}
		if got := string(ctx.Response.Header.Peek("X-Footfall-Error")); !bytes.Contains([]byte(got), []byte(c.msg)) {
			t.Errorf("%s: X-Footfall-Error %q, want %q", c.r.uri, got, c.msg)
		}
		if d := counterValue(t, rejected[epPixel][r]) - before; d != 1 {
			t.Errorf("%s: %s counted %v times", c.r.uri, c.reason, d)
		}
		if len(q.got) != 0 {
			t.Errorf("%s: %d events queued", c.r.uri, len(q.got))
		}
	}
	if got := headerText("a\r\nb\xff" + string(make([]byte, 400))); len(got) != 300 || got[:5] != "a??b?" {
		t.Errorf("headerText %q", got)
	}
}

func reasonOf(name string) reason {
	for r, n := range reasonNames {
		if n == name {
			return reason(r)
		}
	}
	panic(name)
}
