package app

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"footfall/dashboards/web"
)

// raw sends request (its lines, without the final blank line) over a new
// connection to addr and reads the answer as it came: the body is the
// bytes on the wire, never decompressed.
func raw(t *testing.T, addr string, lines ...string) (*http.Response, []byte) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req := strings.Join(append(lines, "Host: dash.example", "Connection: close"), "\r\n") + "\r\n\r\n"
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, body
}

// TestPageCompressedAndCached reads the page and the favicon as raw HTTP
// from the routes the dashboards mount: the page is gzip-compressed when
// the request accepts it (and only then), with Vary: Accept-Encoding, a
// weak ETag of its content and Cache-Control: no-cache; sending the ETag
// back is a 304 without a body, and a stale one the whole page; the
// favicon is an ICO cached for a day.
func TestPageCompressedAndCached(t *testing.T) {
	ts := httptest.NewServer(mounted(t))
	defer ts.Close()
	addr := ts.Listener.Addr().String()
	page, err := fs.ReadFile(web.Files, "index.html")
	if err != nil {
		t.Fatal(err)
	}

	res, wire := raw(t, addr, "GET / HTTP/1.1", "Accept-Encoding: br;q=1, gzip;q=0.8")
	if res.StatusCode != 200 || res.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("page with gzip accepted: %d, Content-Encoding %q", res.StatusCode, res.Header.Get("Content-Encoding"))
	}
	if !strings.Contains(res.Header.Get("Vary"), "Accept-Encoding") {
		t.Errorf("Vary %q lacks Accept-Encoding", res.Header.Get("Vary"))
	}
	if !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		t.Errorf("Content-Type %q", res.Header.Get("Content-Type"))
	}
	zr, err := gzip.NewReader(bytes.NewReader(wire))
	if err != nil {
		t.Fatalf("body is not gzip: %v (% x)", err, wire[:min(len(wire), 16)])
	}
	plain, err := io.ReadAll(zr)
	if err != nil || !bytes.Equal(plain, page) {
		t.Fatalf("gunzipped body is not index.html (%d bytes, want %d): %v", len(plain), len(page), err)
	}
	t.Logf("index.html: %d bytes, %d on the wire with gzip", len(page), len(wire))
	if len(wire)*2 > len(page) {
		t.Errorf("compressed page is %d bytes of %d", len(wire), len(page))
	}
	etag := res.Header.Get("ETag")
	if !regexp.MustCompile(`^W/"[A-Za-z0-9_-]{16}"$`).MatchString(etag) {
		t.Errorf("ETag %q", etag)
	}
	if cc := res.Header.Get("Cache-Control"); cc != "no-cache" {
		t.Errorf("Cache-Control %q, want no-cache (kept, checked before use)", cc)
	}

	// Not accepted: the plain page, the same ETag.
	res, wire = raw(t, addr, "GET / HTTP/1.1")
	if res.StatusCode != 200 || res.Header.Get("Content-Encoding") != "" || !bytes.Equal(wire, page) {
		t.Errorf("page without Accept-Encoding: %d, Content-Encoding %q, %d bytes", res.StatusCode, res.Header.Get("Content-Encoding"), len(wire))
	}
	if res.Header.Get("ETag") != etag {
		t.Errorf("plain page's ETag %q, compressed %q", res.Header.Get("ETag"), etag)
	}

	// Revalidation: 304 without a body, compressed or not.
	for _, enc := range []string{"Accept-Encoding: gzip", "Accept-Encoding: identity"} {
		res, wire = raw(t, addr, "GET / HTTP/1.1", enc, "If-None-Match: "+etag)
		if res.StatusCode != http.StatusNotModified || len(wire) != 0 {
			t.Errorf("If-None-Match with the ETag (%s): %d, %d bytes", enc, res.StatusCode, len(wire))
		}
	}
	res, _ = raw(t, addr, "GET / HTTP/1.1", `If-None-Match: W/"stale"`)
	if res.StatusCode != 200 {
		t.Errorf("stale ETag: %d", res.StatusCode)
	}

	// The favicon.
	icon, _ := fs.ReadFile(web.Files, "favicon.ico")
	res, wire = raw(t, addr, "GET /favicon.ico HTTP/1.1", "Accept-Encoding: gzip")
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "image/x-icon" || !bytes.Equal(wire, icon) {
		t.Fatalf("favicon: %d %q, %d bytes", res.StatusCode, res.Header.Get("Content-Type"), len(wire))
	}
	if !bytes.HasPrefix(wire, []byte{0, 0, 1, 0}) {
		t.Errorf("favicon is not an ICO: % x", wire[:4])
	}
	if cc := res.Header.Get("Cache-Control"); !strings.Contains(cc, "max-age=86400") {
		t.Errorf("favicon Cache-Control %q", cc)
	}
}
