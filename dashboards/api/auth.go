package api

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"footfall/internal/access"
	"footfall/internal/csvexport"
)

// Who may call what. Every route but login, logout and the share link's
// landing goes through guard with the Level it needs on the request's
// site; the credential is one of, in this order:
//
//   - Authorization: Bearer <token>: an API token (read or write, per
//     site), or -api-token, an admin's token kept for scripts;
//   - the session cookie a login sets (HttpOnly, SameSite=Strict, Secure
//     and __Host- with -cookie-secure), for the user's roles;
//   - the cookie a share link's landing sets: one site's reports;
//   - a site's public key (X-Footfall-Key or ?key=, public by design):
//     recently viewed products only, with CORS for the shop's pages.
//
// A token in the address (?token=) is refused: addresses end up in
// history, logs and Referer headers. Requests that change something must
// come from the dashboards' own origin when a browser sends them
// (http.CrossOriginProtection: Sec-Fetch-Site, else Origin against Host),
// which, with the SameSite cookie, is the CSRF protection; scripts that
// send no such header are not browsers and need a token anyway.

type principalKey struct{}

// principalOf is who the request's credential is (guard put it there).
func principalOf(r *http.Request) *access.Principal {
	p, _ := r.Context().Value(principalKey{}).(*access.Principal)
	return p
}

// cookieName is the session cookie's name: with the __Host- prefix when
// cookies are Secure, so that no subdomain can set or shadow it.
func (a *API) cookieName(base string) string {
	if a.cfg.SecureCookies {
		return "__Host-" + base
	}
	return base
}

const (
	sessionCookie = "ff_session"
	shareCookie   = "ff_share"
)

// errNoCredential is the 401's reason.
var errNoCredential = errors.New("log in, or send Authorization: Bearer <API token>")

// principal reads the request's credential: nil and no error when it
// shows none.
func (a *API) principal(r *http.Request) (*access.Principal, int, error) {
	q := r.URL.Query()
	if q.Has("token") || q.Has("access_token") {
		return nil, http.StatusBadRequest, errors.New("a token in the address is refused (history, logs, Referer): send Authorization: Bearer <token>")
	}
	ctx := r.Context()
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
			return nil, http.StatusUnauthorized, errors.New("send Authorization: Bearer <token>")
		}
		if a.cfg.Token != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(a.cfg.Token)) == 1 {
			return &access.Principal{Kind: access.KindBootstrap, Admin: true}, 0, nil
		}
		return a.authenticate(ctx, tok, access.KindToken, access.KindKey)
	}
	if c, err := r.Cookie(a.cookieName(sessionCookie)); err == nil && c.Value != "" {
		return a.authenticate(ctx, c.Value, access.KindSession)
	}
	if c, err := r.Cookie(a.cookieName(shareCookie)); err == nil && c.Value != "" {
		return a.authenticate(ctx, c.Value, access.KindShare)
	}
	key := r.Header.Get("X-Footfall-Key")
	if key == "" {
		key = q.Get("key")
	}
	if key != "" {
		return a.authenticate(ctx, key, access.KindKey)
	}
	return nil, 0, nil
}

// authenticate checks secret, which must be of one of kinds.
func (a *API) authenticate(ctx context.Context, secret string, kinds ...access.Kind) (*access.Principal, int, error) {
	if a.access == nil {
		return nil, http.StatusUnauthorized, errors.New("unknown, revoked or expired credential")
	}
	p, err := a.access.Authenticate(ctx, secret)
	if errors.Is(err, access.ErrNotFound) || err == nil && !slices.Contains(kinds, p.Kind) {
		return nil, http.StatusUnauthorized, errors.New("unknown, revoked or expired credential")
	}
	if err != nil {
		slog.Error("read credentials", "err", err)
		return nil, http.StatusServiceUnavailable, errors.New("cannot check credentials now")
	}
	return p, 0, nil
}

// guard lets h answer only a request whose credential may act at level l
// on the request's site (?site=), or on some site when it names none.
func (a *API) guard(l access.Level, h http.HandlerFunc) http.HandlerFunc {
	return a.guardSite(l, false, bounded(l), h)
}

// guardBody is guard for a route whose JSON body may name the site
// instead of the query string (segments, campaigns, a person's export or
// erasure): the body is read here (64 KB at most, as the handlers read
// it), its site checked, then handed on untouched.
func (a *API) guardBody(l access.Level, h http.HandlerFunc) http.HandlerFunc {
	return a.guardSite(l, true, bounded(l), h)
}

// guardSite is guard and guardBody; slot says the request takes one of
// its credential's report slots (reportSlots) while it runs.
func (a *API) guardSite(l access.Level, bodySite, slot bool, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Referrer-Policy", "no-referrer")
		if err := a.csrf.Check(r); err != nil {
			writeError(w, http.StatusForbidden, errors.New("cross-origin request refused: changes are made from the dashboards' own pages"))
			return
		}
		p, status, err := a.principal(r)
		if err != nil {
			writeError(w, status, err)
			return
		}
		if p == nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="footfall"`)
			writeError(w, http.StatusUnauthorized, errNoCredential)
			return
		}
		if p.Kind == access.KindKey && !a.cors(w, r, p) {
			return
		}
		q := r.URL.Query()
		if err := plainQuery(q); err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		site := q.Get("site")
		if bodySite {
			s, ok := siteInBody(w, r)
			if !ok {
				return
			}
			if s != "" && site != "" && s != site {
				writeError(w, http.StatusBadRequest, errors.New("site differs in the URL and the body"))
				return
			}
			if s != "" {
				site = s
			}
		}
		if site != "" && !p.Can(site, l) || site == "" && !p.CanSome(l) {
			writeError(w, http.StatusForbidden, forbidden(p, site, l))
			return
		}
		release, ok := a.slotFor(w, r, p, slot)
		if !ok {
			return
		}
		defer release()
		h(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	}
}

// listParams are the query parameters a route reads as a list: a
// report's filters, a funnel's steps.
var listParams = map[string]bool{"filter": true, "step": true}

// plainQuery checks, before a route runs anything, what every route reads
// alike: a parameter other than listParams given once at most (the
// handlers, and guardSite's check of the site, read the first value: a
// second one would be silently ignored, and a script that sent site=a&site=b
// would read a report of a alone without knowing it), and the CSV dialect,
// which csvDialect then reads without a check of its own: a CSV report
// refused it only after running its queries.
func plainQuery(q url.Values) error {
	for k, vs := range q {
		if len(vs) > 1 && !listParams[k] {
			return fmt.Errorf("%s: given %d times, give it once", k, len(vs))
		}
	}
	if _, ok := csvexport.ParseDialect(q.Get("dialect")); !ok {
		return errBadDialect
	}
	return nil
}

func forbidden(p *access.Principal, site string, l access.Level) error {
	what := map[access.Level]string{access.Public: "read recently viewed products of", access.Reports: "read the reports of",
		access.Read: "read the people and exports of", access.Write: "change"}[l]
	if site == "" {
		site = "any site"
	} else {
		site = "site " + site
	}
	return fmt.Errorf("this %s may not %s %s", p.Kind, what, site)
}

// siteInBody reads the site a JSON body names, putting the body back. It
// reads with parseJSON, as the handlers do, so that the site checked is
// the site acted on: a body that cannot be read (too large, not one JSON
// object, bytes after it, a site that is not a string) is refused here,
// never let through to be checked as "some site". An empty body names no
// site (the handler says what is missing).
func siteInBody(w http.ResponseWriter, r *http.Request) (string, bool) {
	body, err := bodyBytes(w, r, maxBody)
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Errorf("body: %w", err))
		return "", false
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return "", true
	}
	var b struct {
		Site *json.RawMessage `json:"site"`
	}
	if err := parseJSON(body, &b, false); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("body: want one JSON object: %w", err))
		return "", false
	}
	if b.Site == nil {
		return "", true
	}
	var s string
	if err := json.Unmarshal(*b.Site, &s); err != nil {
		writeError(w, http.StatusBadRequest, errors.New("site must be a string"))
		return "", false
	}
	return s, true
}

// cors answers for a public key: the key's origins (or any page, when it
// lists none) may read the answer. A browser's request from another page
// is refused outright.
func (a *API) cors(w http.ResponseWriter, r *http.Request, p *access.Principal) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	if len(p.Origins) > 0 && !slices.Contains(p.Origins, origin) {
		writeError(w, http.StatusForbidden, errors.New("this public key is not for pages of "+origin))
		return false
	}
	if len(p.Origins) == 0 {
		w.Header().Set("Access-Control-Allow-Origin", "*")
	} else {
		w.Header().Set("Access-Control-Allow-Origin", origin)
		w.Header().Add("Vary", "Origin")
	}
	return true
}

// preflight answers a browser's CORS preflight of a public route: the
// key goes in X-Footfall-Key (or ?key=, which needs no preflight); no
// cookie is sent nor wanted.
func preflight(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.Header().Set("Access-Control-Allow-Methods", "GET")
	w.Header().Set("Access-Control-Allow-Headers", "X-Footfall-Key")
	w.Header().Set("Access-Control-Max-Age", "86400")
	w.WriteHeader(http.StatusNoContent)
}

// Me is what GET /api/v1/me answers: who the credential is and what it
// may do.
type Me struct {
	Kind  access.Kind       `json:"kind"`
	User  string            `json:"user,omitempty"`
	Admin bool              `json:"admin"`
	Sites map[string]string `json:"sites"`
}

func meOf(p *access.Principal) Me {
	m := Me{Kind: p.Kind, User: p.User, Admin: p.Admin, Sites: map[string]string{}}
	for site, role := range p.Grants {
		m.Sites[site] = string(role)
		if p.Level != 0 {
			m.Sites[site] = p.Level.String()
		}
	}
	return m
}

// me answers GET /api/v1/me.
func (a *API) me(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, meOf(principalOf(r)))
}

// login answers POST /api/v1/login {"user", "password"} (JSON or a form):
// a session cookie and who logged in, or 401 after the same time whether
// the user exists or not.
func (a *API) login(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Referrer-Policy", "no-referrer")
	if err := a.csrf.Check(r); err != nil {
		writeError(w, http.StatusForbidden, errors.New("cross-origin login refused"))
		return
	}
	if a.access == nil {
		writeError(w, http.StatusNotFound, errors.New("no accounts here"))
		return
	}
	var b struct{ User, Password string }
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		if err := readBody(w, r, 4<<10, &b); err != nil {
			writeError(w, http.StatusBadRequest, fmt.Errorf("body: %w", err))
			return
		}
	} else {
		r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
		b.User, b.Password = r.PostFormValue("user"), r.PostFormValue("password")
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	// The client is the connection's peer: the dashboards trust no
	// forwarding header (a proxy in front makes every login one client).
	client, _ := netip.ParseAddrPort(r.RemoteAddr)
	secret, c, err := a.access.Login(ctx, b.User, b.Password, client.Addr(), a.cfg.SessionTTL)
	var throttled *access.Throttled
	switch {
	case errors.Is(err, access.ErrBadLogin):
		writeError(w, http.StatusUnauthorized, err)
		return
	case errors.As(err, &throttled):
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(throttled.RetryAfter.Seconds()))))
		writeError(w, http.StatusTooManyRequests, err)
		return
	case errors.Is(err, access.ErrBusy):
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusTooManyRequests, err)
		return
	case err != nil:
		a.fail(w, "login", err)
		return
	}
	a.setCookie(w, r, sessionCookie, secret, c.ExpiresAt)
	p, err := a.access.Authenticate(ctx, secret)
	if err != nil {
		a.fail(w, "login", err)
		return
	}
	writeJSON(w, meOf(p))
}

func (a *API) setCookie(w http.ResponseWriter, r *http.Request, name, value string, expires time.Time) {
	c := &http.Cookie{Name: a.cookieName(name), Value: value, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: a.cfg.SecureCookies || r.TLS != nil}
	if value == "" {
		c.MaxAge = -1
	} else if !expires.IsZero() {
		c.Expires = expires
	}
	http.SetCookie(w, c)
}

// logout answers POST /api/v1/logout: the session ends (for any copy of
// its cookie too) and both cookies are cleared.
func (a *API) logout(w http.ResponseWriter, r *http.Request) {
	if err := a.csrf.Check(r); err != nil {
		writeError(w, http.StatusForbidden, errors.New("cross-origin logout refused"))
		return
	}
	if c, err := r.Cookie(a.cookieName(sessionCookie)); err == nil && c.Value != "" && a.access != nil {
		if err := a.access.Logout(r.Context(), c.Value); err != nil {
			a.fail(w, "logout", err)
			return
		}
	}
	a.setCookie(w, r, sessionCookie, "", time.Time{})
	a.setCookie(w, r, shareCookie, "", time.Time{})
	w.WriteHeader(http.StatusNoContent)
}

// share answers GET /share/{secret}, a share link: it keeps the secret in
// an HttpOnly cookie and sends the browser on to the site's dashboard,
// whose address holds no secret. It writes nothing.
func (a *API) share(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("Cache-Control", "no-store")
	secret := r.PathValue("secret")
	p, _, err := a.authenticate(r.Context(), secret, access.KindShare)
	if err != nil || p == nil {
		http.Error(w, "This share link is unknown or was revoked.", http.StatusNotFound)
		return
	}
	var site string
	for s := range p.Grants {
		site = s
	}
	a.setCookie(w, r, shareCookie, secret, time.Time{})
	http.Redirect(w, r, "/?site="+url.QueryEscape(site), http.StatusSeeOther)
}

// Pages serves the web pages (h), refusing an address that carries a
// token (?token=, ?access_token=) with 400, as the API does: the pages
// use the login's session cookie, and a token in an address ends up in
// history, logs and Referer headers.
func Pages(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if q := r.URL.Query(); q.Has("token") || q.Has("access_token") {
			writeError(w, http.StatusBadRequest, errors.New("a token in the address is refused (history, logs, Referer): log in on the reports page"))
			return
		}
		h.ServeHTTP(w, r)
	})
}
