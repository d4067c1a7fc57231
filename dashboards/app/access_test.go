package app_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"footfall/dashboards/app"
	"footfall/internal/event"
	"footfall/processor/chstore"
	"footfall/tests/stacktest"
)

// dashboards starts the real dashboards program on a fresh database with
// an admin made at start (-admin-password) and the scripts' token.
func dashboards(t *testing.T) (string, *chstore.Store) {
	t.Helper()
	ch, store := stacktest.ClickHouse(t)
	var c app.Config
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	c.RegisterFlags(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	c.Listen, c.Ops.Listen, c.CH = "127.0.0.1:0", "127.0.0.1:0", ch
	c.Token, c.AdminPassword = "scripts-token", "first-admin-password"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := app.Start(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Shutdown(context.Background()) })
	return "http://" + p.Addr(), store
}

// client is one caller: a cookie jar (a browser) and the headers it
// sends.
type client struct {
	t      *testing.T
	base   string
	c      *http.Client
	header http.Header
}

func newClient(t *testing.T, base string, header ...string) *client {
	jar, _ := cookiejar.New(nil)
	h := http.Header{}
	for i := 0; i+1 < len(header); i += 2 {
		h.Set(header[i], header[i+1])
	}
	return &client{t: t, base: base, c: &http.Client{Jar: jar, Timeout: 20 * time.Second}, header: h}
}

// do sends a request and returns its status and body.
func (c *client) do(method, path, body string, header ...string) (int, string, http.Header) {
	c.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, c.base+path, r)
	if err != nil {
		c.t.Fatal(err)
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.c.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// must sends a request that must answer want, and decodes its JSON.
func (c *client) must(want int, method, path, body string, into any) {
	c.t.Helper()
	code, b, _ := c.do(method, path, body)
	if code != want {
		c.t.Fatalf("%s %s: %d %s, want %d", method, path, code, b, want)
	}
	if into != nil {
		if err := json.Unmarshal([]byte(b), into); err != nil {
			c.t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
}

func (c *client) login(user, password string) {
	c.t.Helper()
	c.must(200, "POST", "/api/v1/login", `{"user":"`+user+`","password":"`+password+`"}`, nil)
}

type issued struct {
	ID, Secret, URL string
}

// TestAccessPerRole: what each credential reaches through the real
// dashboards server, and what it does not: an admin, a site's viewer and
// editor (logged in with their passwords), a read and a write API token,
// a share link, a public key, no credential, and each of them revoked
// (a deleted user, a logged-out session, revoked tokens, link and key).
// shopVisitor is a browser's visitor id, as the snippet makes them (a
// UUID); blogBrowser another, on blog.
const (
	shopVisitor = "3f1c2a9e-5b7d-4e21-9c3a-0d4e5f6a7b8c"
	blogBrowser = "9a8b7c6d-1e2f-4a3b-8c4d-5e6f7a8b9c0d"
)

func TestAccessPerRole(t *testing.T) {
	base, db := dashboards(t)
	at := time.Now().UTC().Add(-time.Hour)
	stacktest.Insert(t, db, stacktest.Hit{At: at, Fields: map[event.Field]string{event.Site: "shop", event.Type: "pageview",
		event.VisitorID: shopVisitor, event.URL: "https://shop.example/"}},
		stacktest.Hit{At: at, Fields: map[event.Field]string{event.Site: "blog", event.Type: "pageview",
			event.VisitorID: "b1", event.URL: "https://blog.example/"}})

	admin := newClient(t, base)
	// No password, a wrong one: refused.
	if code, _, _ := admin.do("POST", "/api/v1/login", `{"user":"admin","password":"wrong-password"}`); code != 401 {
		t.Errorf("wrong password: %d", code)
	}
	if code, _, _ := admin.do("POST", "/api/v1/login", `{"user":"nobody","password":"first-admin-password"}`); code != 401 {
		t.Errorf("unknown user: %d", code)
	}
	code, _, h := admin.do("POST", "/api/v1/login", `{"user":"admin","password":"first-admin-password"}`)
	if code != 200 {
		t.Fatalf("admin login: %d", code)
	}
	// The session cookie: HttpOnly, SameSite=Strict, the whole site.
	set := h.Get("Set-Cookie")
	for _, want := range []string{"ff_session=ffs_", "HttpOnly", "SameSite=Strict", "Path=/"} {
		if !strings.Contains(set, want) {
			t.Errorf("session cookie %q lacks %s", set, want)
		}
	}
	admin.must(200, "PUT", "/api/v1/users/vera", `{"password":"vera-password-1","sites":{"shop":"viewer"}}`, nil)
	admin.must(200, "PUT", "/api/v1/users/ed", `{"password":"ed-password-12","sites":{"shop":"editor","blog":"viewer"}}`, nil)
	admin.must(200, "PUT", "/api/v1/users/gone", `{"password":"gone-password","sites":{"shop":"editor"}}`, nil)
	var readTok, writeTok, deadTok, share, deadShare, key, deadKey issued
	admin.must(201, "POST", "/api/v1/tokens", `{"label":"exports","sites":{"shop":"read"}}`, &readTok)
	admin.must(201, "POST", "/api/v1/tokens", `{"label":"crm","sites":{"shop":"write"}}`, &writeTok)
	admin.must(201, "POST", "/api/v1/tokens", `{"label":"old","sites":{"shop":"write"}}`, &deadTok)
	admin.must(201, "POST", "/api/v1/shares", `{"site":"shop","label":"board"}`, &share)
	admin.must(201, "POST", "/api/v1/shares", `{"site":"shop","label":"old"}`, &deadShare)
	admin.must(201, "POST", "/api/v1/keys", `{"site":"shop","label":"pages","origins":["https://shop.example"]}`, &key)
	admin.must(201, "POST", "/api/v1/keys", `{"site":"shop","label":"old"}`, &deadKey)
	if !strings.HasPrefix(readTok.Secret, "fft_") || share.URL != "/share/"+share.Secret || !strings.HasPrefix(key.Secret, "ffp_") {
		t.Fatalf("issued %+v %+v %+v", readTok, share, key)
	}

	viewer, editor, gone := newClient(t, base), newClient(t, base), newClient(t, base)
	viewer.login("vera", "vera-password-1")
	editor.login("ed", "ed-password-12")
	gone.login("gone", "gone-password")
	loggedOut := newClient(t, base)
	loggedOut.login("ed", "ed-password-12")
	var stolen *url.URL
	stolen, _ = url.Parse(base)
	stolenCookies := loggedOut.c.Jar.Cookies(stolen)
	loggedOut.must(204, "POST", "/api/v1/logout", "", nil)
	loggedOut.c.Jar.SetCookies(stolen, stolenCookies) // a copy of the cookie kept from before the logout

	shareClient := func(path string) *client {
		c := newClient(t, base)
		code, body, _ := c.do("GET", path, "")
		if path == share.URL && (code != 200 || !strings.Contains(body, "<html")) {
			t.Fatalf("share landing: %d", code)
		}
		return c
	}
	sharer := shareClient(share.URL)
	deadSharer := shareClient(deadShare.URL) // landed while the link worked

	// Revocations, after each credential was seen working below's way.
	admin.must(204, "DELETE", "/api/v1/users/gone", "", nil)
	admin.must(204, "DELETE", "/api/v1/tokens/"+deadTok.ID, "", nil)
	editor.must(204, "DELETE", "/api/v1/shares/"+deadShare.ID, "", nil)
	editor.must(204, "DELETE", "/api/v1/keys/"+deadKey.ID, "", nil)
	if code, _, _ := newClient(t, base).do("GET", deadShare.URL, ""); code != 404 {
		t.Errorf("a revoked share link's landing: %d", code)
	}

	who := []struct {
		name string
		c    *client
	}{
		{"admin", admin},
		{"viewer", viewer},
		{"editor", editor},
		{"read token", newClient(t, base, "Authorization", "Bearer "+readTok.Secret)},
		{"write token", newClient(t, base, "Authorization", "Bearer "+writeTok.Secret)},
		{"scripts token", newClient(t, base, "Authorization", "Bearer scripts-token")},
		{"share link", sharer},
		{"public key", newClient(t, base, "X-Footfall-Key", key.Secret)},
		{"no credential", newClient(t, base)},
		{"deleted user", gone},
		{"logged out", loggedOut},
		{"revoked token", newClient(t, base, "Authorization", "Bearer "+deadTok.Secret)},
		{"revoked share link", deadSharer},
		{"revoked key", newClient(t, base, "X-Footfall-Key", deadKey.Secret)},
		{"token without Bearer", newClient(t, base, "Authorization", readTok.Secret)},
		{"token in the address", newClient(t, base)},
	}
	const seg = `{"site":"shop","name":"n","conditions":[{"field":"class","op":"=","value":"customer"}]}`
	type req struct{ method, path, body string }
	reqs := []req{
		{"GET", "/api/v1/overview?site=shop", ""},
		{"GET", "/api/v1/overview?site=blog", ""},
		{"GET", "/api/v1/consents/export.csv?site=shop", ""},
		{"POST", "/api/v1/segments", seg},
		{"POST", "/api/v1/segments?site=blog", strings.Replace(seg, `"shop"`, `"blog"`, 1)},
		{"GET", "/api/v1/recently-viewed?site=shop&visitor_id=" + shopVisitor, ""},
		{"GET", "/api/v1/recently-viewed?site=blog&visitor_id=" + blogBrowser, ""},
		{"POST", "/api/v1/shares", `{"site":"shop"}`},
		{"GET", "/api/v1/users", ""},
		{"POST", "/api/v1/tokens", `{"sites":{"shop":"read"}}`},
	}
	// want[who][request]: the status each caller gets.
	want := map[string][]int{
		"admin":                {200, 200, 200, 201, 201, 200, 200, 201, 200, 201},
		"viewer":               {200, 403, 200, 403, 403, 200, 403, 403, 403, 403},
		"editor":               {200, 200, 200, 201, 403, 200, 200, 201, 403, 403},
		"read token":           {200, 403, 200, 403, 403, 200, 403, 403, 403, 403},
		"write token":          {200, 403, 200, 201, 403, 200, 403, 201, 403, 403},
		"scripts token":        {200, 200, 200, 201, 201, 200, 200, 201, 200, 201},
		"share link":           {200, 403, 403, 403, 403, 200, 403, 403, 403, 403},
		"public key":           {403, 403, 403, 403, 403, 200, 403, 403, 403, 403},
		"no credential":        {401, 401, 401, 401, 401, 401, 401, 401, 401, 401},
		"deleted user":         {401, 401, 401, 401, 401, 401, 401, 401, 401, 401},
		"logged out":           {401, 401, 401, 401, 401, 401, 401, 401, 401, 401},
		"revoked token":        {401, 401, 401, 401, 401, 401, 401, 401, 401, 401},
		"revoked share link":   {401, 401, 401, 401, 401, 401, 401, 401, 401, 401},
		"revoked key":          {401, 401, 401, 401, 401, 401, 401, 401, 401, 401},
		"token without Bearer": {401, 401, 401, 401, 401, 401, 401, 401, 401, 401},
		"token in the address": {400, 400, 400, 400, 400, 400, 400, 400, 400, 400},
	}
	for _, w := range who {
		for i, r := range reqs {
			path := r.path
			if w.name == "token in the address" {
				path += map[bool]string{true: "&", false: "?"}[strings.Contains(path, "?")] + "token=" + readTok.Secret
			}
			code, body, _ := w.c.do(r.method, path, r.body)
			if code != want[w.name][i] {
				t.Errorf("%s: %s %s: %d %s, want %d", w.name, r.method, r.path, code, strings.TrimSpace(body), want[w.name][i])
			}
		}
	}

	// What a 200 holds: the viewer reads the shop's figures.
	var o struct{ Visitors uint64 }
	viewer.must(200, "GET", "/api/v1/overview?site=shop&from="+at.Format("2006-01-02")+"&to="+at.Add(24*time.Hour).Format("2006-01-02"), "", &o)
	if o.Visitors != 1 {
		t.Errorf("viewer's overview of shop: %d visitors, want 1", o.Visitors)
	}
	// An editor of shop may not slip blog in through the body while the
	// address names shop.
	if code, _, _ := editor.do("POST", "/api/v1/segments?site=shop", strings.Replace(seg, `"shop"`, `"blog"`, 1)); code != 400 {
		t.Errorf("site differing in address and body: %d", code)
	}
	if code, _, _ := editor.do("PUT", "/api/v1/segments/n", strings.Replace(seg, `"shop"`, `"blog"`, 1)); code != 403 {
		t.Errorf("editor of shop changing a segment of blog: %d", code)
	}
	// Bytes after the body's JSON, or a second object: the guard and the
	// handler read the body with one parser, which refuses both (400), so
	// no one acts on blog's data with a grant on shop only, and no one
	// at all with such a body. Each body-site route, each caller.
	bodyRoutes := []req{
		{"POST", "/api/v1/profile/export", `{"site":"blog","visitor_id":"b1"}`},
		{"DELETE", "/api/v1/profile", `{"site":"blog","visitor_id":"b1"}`},
		{"POST", "/api/v1/segments", strings.Replace(seg, `"shop"`, `"blog"`, 1)},
		{"PUT", "/api/v1/segments/n", strings.Replace(seg, `"shop"`, `"blog"`, 1)},
		{"POST", "/api/v1/campaigns", `{"site":"blog","name":"c"}`},
		{"POST", "/api/v1/shares", `{"site":"blog","label":"x"}`},
		{"POST", "/api/v1/keys", `{"site":"blog","label":"x"}`},
	}
	bodyCallers := map[string]*client{"admin": admin, "viewer": viewer, "editor": editor, "scripts token": newClient(t, base, "Authorization", "Bearer scripts-token"),
		"read token": newClient(t, base, "Authorization", "Bearer "+readTok.Secret), "write token": newClient(t, base, "Authorization", "Bearer "+writeTok.Secret)}
	for _, r := range bodyRoutes {
		for variant, body := range map[string]string{
			"trailing bytes":   r.body + ` x`,
			"trailing bracket": r.body + `]`,
			"trailing number":  r.body + `0`,
			"two objects":      r.body + `{}`,
			"shop, then blog":  strings.Replace(r.body, `"blog"`, `"shop"`, 1) + r.body,
			"blog, then shop":  r.body + "\n" + strings.Replace(r.body, `"blog"`, `"shop"`, 1),
			"upper-case key":   strings.Replace(r.body, `"site"`, `"SITE"`, 1) + ` x`,
		} {
			for name, c := range bodyCallers {
				if code, b, _ := c.do(r.method, r.path, body); code != 400 {
					t.Errorf("%s: %s %s with %s: %d %s, want 400", name, r.method, r.path, variant, code, strings.TrimSpace(b))
				}
			}
		}
	}
	// blog's person is still there, and no share link was made for blog.
	admin.must(200, "POST", "/api/v1/profile/export", `{"site":"blog","visitor_id":"b1"}`, nil)
	var blogShares []struct{ Site string }
	admin.must(200, "GET", "/api/v1/shares?site=blog", "", &blogShares)
	if len(blogShares) != 0 {
		t.Errorf("share links made for blog by refused bodies: %d", len(blogShares))
	}
	// A write token's own shares it may revoke; the viewer may not.
	var s2 issued
	editor.must(201, "POST", "/api/v1/shares", `{"site":"shop"}`, &s2)
	if code, _, _ := viewer.do("DELETE", "/api/v1/shares/"+s2.ID, ""); code != 403 {
		t.Errorf("viewer revoking a share link: %d", code)
	}

	// CSRF: a logged-in browser's change sent from another site is refused,
	// by Sec-Fetch-Site or by Origin; the same from the dashboards' page
	// goes through.
	if code, _, _ := editor.do("POST", "/api/v1/shares", `{"site":"shop"}`, "Sec-Fetch-Site", "cross-site"); code != 403 {
		t.Errorf("cross-site POST: %d", code)
	}
	if code, _, _ := editor.do("POST", "/api/v1/shares", `{"site":"shop"}`, "Origin", "https://evil.example"); code != 403 {
		t.Errorf("POST from another origin: %d", code)
	}
	if code, _, _ := editor.do("POST", "/api/v1/shares", `{"site":"shop"}`, "Sec-Fetch-Site", "same-origin", "Origin", base); code != 201 {
		t.Errorf("same-origin POST: %d", code)
	}
	if code, _, _ := newClient(t, base).do("POST", "/api/v1/login", `{"user":"ed","password":"ed-password-12"}`, "Sec-Fetch-Site", "cross-site"); code != 403 {
		t.Errorf("cross-site login: %d", code)
	}

	// CORS for the public key: the shop's pages may read the answer,
	// another site's may not call it.
	pub := newClient(t, base, "X-Footfall-Key", key.Secret)
	code, _, h = pub.do("GET", "/api/v1/recently-viewed?site=shop&visitor_id="+shopVisitor, "", "Origin", "https://shop.example")
	if code != 200 || h.Get("Access-Control-Allow-Origin") != "https://shop.example" {
		t.Errorf("key from the shop's page: %d, Access-Control-Allow-Origin %q", code, h.Get("Access-Control-Allow-Origin"))
	}
	if code, _, h = pub.do("GET", "/api/v1/recently-viewed?site=shop&visitor_id="+shopVisitor, "", "Origin", "https://evil.example"); code != 403 || h.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("key from another page: %d %q", code, h.Get("Access-Control-Allow-Origin"))
	}
	if code, _, h = newClient(t, base).do("OPTIONS", "/api/v1/recently-viewed?site=shop", "", "Origin", "https://shop.example",
		"Access-Control-Request-Headers", "x-footfall-key"); code != 204 || !strings.Contains(h.Get("Access-Control-Allow-Headers"), "X-Footfall-Key") {
		t.Errorf("preflight: %d %v", code, h)
	}
	if code, _, _ := newClient(t, base).do("GET", "/api/v1/recently-viewed?site=shop&visitor_id="+shopVisitor+"&key="+url.QueryEscape(key.Secret), ""); code != 200 {
		t.Errorf("public key in the address: %d", code)
	}

	// Stored: passwords as bcrypt, secrets as their SHA-256 only.
	if n := stacktest.Count(t, db, "SELECT count() FROM access_users WHERE name = 'vera' AND startsWith(password_hash, '$2a$12$') AND position(password_hash, 'vera-password-1') = 0"); n != 1 {
		t.Errorf("vera's password is not stored as bcrypt: %d rows", n)
	}
	for _, sec := range []string{readTok.Secret, share.Secret, key.Secret} {
		sum := sha256.Sum256([]byte(sec))
		if n := stacktest.Count(t, db, "SELECT countIf(hash = ?) FROM access_credentials", hex.EncodeToString(sum[:])); n == 0 {
			t.Errorf("%s…: no row holds its hash", sec[:8])
		}
		if n := stacktest.Count(t, db, "SELECT count() FROM access_credentials WHERE position(concat(id, hash, label, grants), ?) > 0", sec); n != 0 {
			t.Errorf("%s… stored as is", sec[:8])
		}
	}
	// Lists show no secret.
	_, body, _ := admin.do("GET", "/api/v1/tokens", "")
	if strings.Contains(body, readTok.Secret) || !strings.Contains(body, readTok.ID) {
		t.Errorf("token list: %s", body)
	}
}

// TestPublicKeyReadsBrowsersOnly: a site's public key (and a share link)
// reads the recently viewed products of a
// browser's own visitor id only; a person's history named by their user id
// ("u:" + user id, the visitor id of a backend's events) or any id that is
// not a browser's is refused with a reason, while a read token or a viewer (who may read the site's people) gets it.
func TestPublicKeyReadsBrowsersOnly(t *testing.T) {
	base, db := dashboards(t)
	at := time.Now().UTC().Add(-time.Hour)
	view := func(visitor, product string) stacktest.Hit {
		return stacktest.Hit{At: at, Fields: map[event.Field]string{event.Site: "shop", event.Type: "product_view",
			event.VisitorID: visitor, event.URL: "https://shop.example/p"}, Props: []string{"id", product}}
	}
	stacktest.Insert(t, db, view(event.UserVisitorPrefix+"alice@x.example", "ALICE-1"), view("alice-crm-7", "ALICE-2"),
		view(shopVisitor, "BROWSER-1"), view("0.7264519023841562", "BROWSER-2"))
	admin := newClient(t, base)
	admin.login("admin", "first-admin-password")
	admin.must(200, "PUT", "/api/v1/users/vera", `{"password":"vera-password-1","sites":{"shop":"viewer"}}`, nil)
	var key, share, readTok issued
	admin.must(201, "POST", "/api/v1/keys", `{"site":"shop","label":"pages"}`, &key)
	admin.must(201, "POST", "/api/v1/shares", `{"site":"shop","label":"board"}`, &share)
	admin.must(201, "POST", "/api/v1/tokens", `{"label":"r","sites":{"shop":"read"}}`, &readTok)
	viewer := newClient(t, base)
	viewer.login("vera", "vera-password-1")
	sharer := newClient(t, base)
	sharer.do("GET", share.URL, "")
	limited := map[string]*client{"public key": newClient(t, base, "X-Footfall-Key", key.Secret),
		"public key as bearer": newClient(t, base, "Authorization", "Bearer "+key.Secret), "share link": sharer}
	get := func(c *client, visitor string) (int, string) {
		code, b, _ := c.do("GET", "/api/v1/recently-viewed?site=shop&visitor_id="+url.QueryEscape(visitor), "")
		return code, b
	}
	for name, c := range limited {
		for _, v := range []string{event.UserVisitorPrefix + "alice@x.example", "alice-crm-7", "alice@x.example", "U:alice@x.example", "v1", "c-0123456789abcdef",
			strings.ToUpper(shopVisitor)} {
			code, b := get(c, v)
			if code != 403 || !strings.Contains(b, "browser's own visitor id") || strings.Contains(b, "ALICE") {
				t.Errorf("%s reading %q: %d %s, want 403 with a reason", name, v, code, b)
			}
		}
		for v, product := range map[string]string{shopVisitor: "BROWSER-1", "0.7264519023841562": "BROWSER-2"} {
			if code, b := get(c, v); code != 200 || !strings.Contains(b, product) {
				t.Errorf("%s reading browser %q: %d %s, want 200 with %s", name, v, code, b, product)
			}
		}
	}
	// Who may read the site's people reads any id.
	for name, c := range map[string]*client{"read token": newClient(t, base, "Authorization", "Bearer "+readTok.Secret), "viewer": viewer, "admin": admin} {
		for v, product := range map[string]string{event.UserVisitorPrefix + "alice@x.example": "ALICE-1", "alice-crm-7": "ALICE-2"} {
			if code, b := get(c, v); code != 200 || !strings.Contains(b, product) {
				t.Errorf("%s reading %q: %d %s, want 200 with %s", name, v, code, b, product)
			}
		}
	}
}

// TestLoginLockout: through the real server, an address guessing a
// user's password is answered 429 with Retry-After after 5 failures,
// while the user, logging in from another address, gets in.
func TestLoginLockout(t *testing.T) {
	base, _ := dashboards(t)
	from := func(ip string) *client {
		c := newClient(t, base)
		c.c.Transport = &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}).DialContext}
		return c
	}
	admin := from("127.0.0.1")
	admin.login("admin", "first-admin-password")
	admin.must(200, "PUT", "/api/v1/users/vera", `{"password":"vera-password-1","sites":{"shop":"viewer"}}`, nil)
	attacker := from("127.0.0.2")
	codes := []int{}
	var retry string
	for i := 0; i < 8; i++ {
		code, _, h := attacker.do("POST", "/api/v1/login", `{"user":"vera","password":"wrong-password-x"}`)
		codes = append(codes, code)
		retry = h.Get("Retry-After")
	}
	if fmt.Sprint(codes) != "[401 401 401 401 401 429 429 429]" || retry == "" || retry == "0" {
		t.Errorf("8 wrong passwords from one address: %v, Retry-After %q; want 5 x 401 then 429 with Retry-After", codes, retry)
	}
	if code, _, _ := attacker.do("POST", "/api/v1/login", `{"user":"vera","password":"vera-password-1"}`); code != 429 {
		t.Errorf("the right password from the throttled address: %d, want 429", code)
	}
	vera := from("127.0.0.3")
	vera.login("vera", "vera-password-1")
}
