// Package beacon holds the collector's HTTP handlers: it turns a pixel
// request, a JSON beacon or a server-side API call into encoded events on
// the Kafka queue, answering each request with a clear status.
package beacon

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fastjson"

	"footfall/collector/clientaddr"
	"footfall/collector/kafkaout"
	"footfall/collector/ratelimit"
	"footfall/internal/event"
	"footfall/internal/links"
	"footfall/internal/sites"
)

// Queue takes encoded events; *kafkaout.Producer in production.
type Queue interface {
	Enqueue(msgs ...kafkaout.Msg) error
}

// Config is what the handlers need to know about sites and privacy.
type Config struct {
	// Sites is the site registry: a hit for a site it does not hold is
	// refused, and so is a browser's hit from a page or an Origin on none
	// of a site's domains when the site lists them and takes no foreign
	// ones; the server API's keys are its sites'. Nil holds no site.
	Sites *sites.Registry
	// KeepFullIP stores client addresses whole; by default the last octet of
	// IPv4 and the last 80 bits of IPv6 are zeroed before the event leaves.
	KeepFullIP bool
	// Proxies are the proxies trusted to say, in a forwarding header, whom
	// they got a request from; nil or empty trusts none, and the client is
	// the connection's peer.
	Proxies *clientaddr.Resolver
	// CookielessSecret salts the daily visitor hash used when a hit has no
	// visitor id. Collectors behind one load balancer must share it.
	CookielessSecret []byte
	// MaxBatchEvents is the most events one POST may carry.
	MaxBatchEvents int
	// MaxBodyBytes is the largest body accepted (the server enforces it too).
	MaxBodyBytes int
	// AddressLimit and SiteLimit are token buckets of events per client
	// address (the server API, which a site key authenticates, has none)
	// and per site; nil is no limit.
	AddressLimit *ratelimit.Table
	SiteLimit    *ratelimit.Table
	// Links checks newsletter click and unsubscribe links; nil turns those
	// endpoints off (opens are still recorded).
	Links *links.Signer
	// LegacyTokens queues the opens and clicks of tokens of a token's
	// shape that Links did not make (an earlier version's, random) marked
	// as unverified, for the processor to keep only when a recipient has
	// the token; false refuses them.
	LegacyTokens bool
	// MaxEventAge bounds how far back the time of an event the server API
	// sends with its time (history, backfill.go) may be; FutureSkew how
	// far ahead of the collector's clock (the sender's clock may run a
	// little ahead). Defaults 400 days and 5 minutes.
	MaxEventAge, FutureSkew time.Duration
	// Now returns the receive time; time.Now outside tests.
	Now func() time.Time
}

// Handler serves the collector's endpoints.
type Handler struct {
	cfg     Config
	q       Queue
	ready   atomic.Bool
	metrics fasthttp.RequestHandler
	script  []byte // the JS snippet served at /t.js, if set
	bots    *botCache
	pool    sync.Pool
}

// New returns a Handler that enqueues into q. metrics serves /metrics.
func New(cfg Config, q Queue, metrics fasthttp.RequestHandler) *Handler {
	if cfg.MaxBatchEvents <= 0 {
		cfg.MaxBatchEvents = 100
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 64 << 10
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxEventAge <= 0 {
		cfg.MaxEventAge = 400 * 24 * time.Hour
	}
	if cfg.FutureSkew <= 0 {
		cfg.FutureSkew = 5 * time.Minute
	}
	if cfg.Sites == nil {
		cfg.Sites = sites.NewStatic()
	}
	h := &Handler{cfg: cfg, q: q, metrics: metrics, bots: newBotCache()}
	h.pool.New = func() any {
		return &scratch{
			events: make([]event.Event, 0, 1),
			buf:    make([]byte, 0, 4096),
			// Raw JSON numbers, addresses and cookieless ids are copied
			// here; numbers are never longer in total than the body and the
			// rest is bounded per event, so the arena never moves for them.
			// Text that needs cleaning and URLs that need shortening (see
			// set) are written here too, rare values that may grow it: one
			// allocation for such a hit, and slices already handed out
			// keep pointing at the old array, which stays valid.
			arena: make([]byte, 0, cfg.MaxBodyBytes+cfg.MaxBatchEvents*arenaPerEvent),
		}
	}
	return h
}

// SetReady sets what /readyz answers; the server clears it first on
// shutdown so load balancers stop sending before the listener closes.
func (h *Handler) SetReady(ok bool) { h.ready.Store(ok) }

// SetScript sets the JavaScript served at /t.js.
func (h *Handler) SetScript(js []byte) { h.script = js }

// scratch is the per-request working memory, pooled so that a hit costs no
// allocation once the pool is warm.
type scratch struct {
	events []event.Event
	buf    []byte // encoded events, back to back
	ends   []int
	msgs   []kafkaout.Msg
	arena  []byte
	hashIn []byte
	parser fastjson.Parser
}

func (h *Handler) get() *scratch { return h.pool.Get().(*scratch) }

func (h *Handler) put(s *scratch) {
	s.events = s.events[:0]
	s.buf = s.buf[:0]
	clear(s.msgs)
	s.msgs = s.msgs[:0]
	s.arena = s.arena[:0]
	h.pool.Put(s)
}

// next returns a reset event appended to s.events.
func (s *scratch) next() *event.Event {
	if len(s.events) < cap(s.events) {
		s.events = s.events[:len(s.events)+1]
	} else {
		s.events = append(s.events, event.Event{})
	}
	e := &s.events[len(s.events)-1]
	e.Reset()
	return e
}

var (
	// GIF is the 1x1 transparent image the pixel endpoint answers.
	GIF = []byte("GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")

	pathPixel    = "/p.gif"
	pathPixelAlt = "/p"
	pathBeacon   = "/e"
	pathAPI      = "/api/v1/events"
)

// Handle routes a request.
func (h *Handler) Handle(ctx *fasthttp.RequestCtx) {
	path := ctx.Path()
	switch string(path) {
	case pathPixel, pathPixelAlt:
		h.pixel(ctx)
	case pathBeacon:
		h.beacon(ctx)
	case pathAPI:
		h.api(ctx)
	case "/healthz":
		ctx.SetContentType("text/plain")
		ctx.SetBodyString("ok\n")
	case "/readyz":
		ctx.SetContentType("text/plain")
		if h.ready.Load() {
			ctx.SetBodyString("ready\n")
		} else {
			ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
			ctx.SetBodyString("not ready: kafka unreachable or shutting down\n")
		}
	case "/metrics":
		if h.metrics != nil {
			h.metrics(ctx)
			return
		}
		ctx.NotFound()
	case "/t.js":
		h.serveScript(ctx)
	default:
		if !h.email(ctx, path) {
			ctx.Error("not found\n", fasthttp.StatusNotFound)
		}
	}
}

func (h *Handler) serveScript(ctx *fasthttp.RequestCtx) {
	if h.script == nil {
		ctx.NotFound()
		return
	}
	ctx.SetContentType("application/javascript; charset=utf-8")
	// An hour keeps page loads fast; a new release reaches everyone the
	// same day without renaming the script in every site's page.
	ctx.Response.Header.Set("Cache-Control", "public, max-age=3600")
	ctx.Response.Header.Set("Access-Control-Allow-Origin", "*")
	ctx.SetBody(h.script)
}

// pixel serves GET /p.gif: the hit is in the query string. A well-formed
// request always gets the image, even when it is dropped as a bot, so pages
// and e-mails never show a broken image; the reason is in a header.
func (h *Handler) pixel(ctx *fasthttp.RequestCtx) {
	if !ctx.IsGet() && !ctx.IsHead() {
		h.reject(ctx, epPixel, fasthttp.StatusMethodNotAllowed, rsMethod, errMethodGet)
		return
	}
	s := h.get()
	defer h.put(s)
	e := s.next()
	if err := s.setQuery(e, ctx.URI().QueryString()); err != nil {
		// A site id no site can have (site=a+b is "a b": sites.NewIDRule)
		// is an unknown site: the image, the reason in a header, counted.
		if f, ok := event.FieldOf(err); ok && f == event.Site {
			h.refuseSite(ctx, epPixel, rsUnknownSite, errUnknownSite)
			return
		}
		h.reject(ctx, epPixel, fasthttp.StatusBadRequest, invalidReason(err), err)
		return
	}
	if len(e.F[event.Type]) == 0 {
		e.F[event.Type] = typePageview
	}
	if len(e.F[event.URL]) == 0 {
		_ = s.set(e, event.URL, ctx.Referer())
	}
	h.respondEvents(ctx, s, epPixel, event.IngestPixel)
}

var typePageview = []byte("pageview")

// beacon serves POST /e: a JSON object or array of objects, sent by the
// snippet with fetch or navigator.sendBeacon (which says text/plain, so the
// content type is not checked).
func (h *Handler) beacon(ctx *fasthttp.RequestCtx) {
	setCORS(ctx)
	if ctx.IsOptions() {
		// A preflight names no site: the origin is allowed when some
		// site lists its domain.
		origin := ctx.Request.Header.Peek("Origin")
		listed, anyOrigin := h.cfg.Sites.AnyListsHost(sites.HostOfURL(origin))
		h.allowOrigin(ctx, origin, listed, anyOrigin)
		ctx.SetStatusCode(fasthttp.StatusNoContent)
		return
	}
	if !ctx.IsPost() {
		h.reject(ctx, epBeacon, fasthttp.StatusMethodNotAllowed, rsMethod, errMethodPost)
		return
	}
	s := h.get()
	defer h.put(s)
	if err := h.parseBody(ctx, s, false); err != nil {
		h.allowOrigin(ctx, ctx.Request.Header.Peek("Origin"), false, true)
		h.reject(ctx, epBeacon, fasthttp.StatusBadRequest, invalidReason(err), err)
		return
	}
	if e := h.cfg.Sites.Lookup(s.events[0].F[event.Site]); e != nil && e.Restricted() {
		origin := ctx.Request.Header.Peek("Origin")
		h.allowOrigin(ctx, origin, e.ListsHost(sites.HostOfURL(origin)), false)
	} else {
		h.allowOrigin(ctx, nil, false, true)
	}
	h.respondEvents(ctx, s, epBeacon, event.IngestBeacon)
}

// api serves POST /api/v1/events for shop backends, authenticated by a
// per-site secret in "Authorization: Bearer <key>".
func (h *Handler) api(ctx *fasthttp.RequestCtx) {
	if !ctx.IsPost() {
		h.reject(ctx, epAPI, fasthttp.StatusMethodNotAllowed, rsMethod, errMethodPost)
		return
	}
	entry, ok := h.authSite(ctx.Request.Header.Peek("Authorization"))
	if !ok {
		h.reject(ctx, epAPI, fasthttp.StatusUnauthorized, rsUnauthorized, errUnauthorized)
		return
	}
	s := h.get()
	defer h.put(s)
	if err := h.parseBody(ctx, s, true); err != nil {
		h.reject(ctx, epAPI, fasthttp.StatusBadRequest, invalidReason(err), err)
		return
	}
	site := entry.Site().ID
	for i := range s.events {
		e := &s.events[i]
		switch {
		case len(e.F[event.Site]) == 0:
			e.F[event.Site] = []byte(site)
		case string(e.F[event.Site]) != site:
			h.reject(ctx, epAPI, fasthttp.StatusForbidden, rsUnauthorized, errWrongSite)
			return
		}
		// The shopper's address, as the shop saw it, is stored as every
		// other: anonymised unless -keep-full-ip.
		if ip := e.F[event.IP]; len(ip) > 0 {
			addr, ok := clientaddr.ParseNode(ip)
			if !ok {
				h.reject(ctx, epAPI, fasthttp.StatusBadRequest, rsInvalid, batchErr(len(s.events), i, errIP))
				return
			}
			e.F[event.IP] = h.appendIP(s, addr)
		}
	}
	h.respondEvents(ctx, s, epAPI, event.IngestAPI)
}

// authSite finds the site whose key is in the Authorization header. The
// registry finds it by the key's SHA-256, so that response timing says
// nothing about how much of a key was right.
func (h *Handler) authSite(auth []byte) (*sites.Entry, bool) {
	const prefix = "Bearer "
	if len(auth) <= len(prefix) || string(auth[:len(prefix)]) != prefix {
		return nil, false
	}
	return h.cfg.Sites.SiteOfKey(auth[len(prefix):])
}

// respondEvents finishes the events in s (id, time, client address, visitor
// id), drops bots, validates, enqueues them all or none, and answers.
func (h *Handler) respondEvents(ctx *fasthttp.RequestCtx, s *scratch, ep endpoint, in event.Ingest) {
	now := h.cfg.Now()
	ms := now.UnixMilli()
	ua := ctx.UserAgent()
	if in != event.IngestAPI && h.bots.isBot(ua) {
		dropped[ep].Add(float64(len(s.events)))
		h.answer(ctx, ep, fasthttp.StatusOK, "bot")
		return
	}
	var addr netip.Addr
	var ip []byte // the same for every event of the request
	if in != event.IngestAPI {
		addr = h.clientAddr(ctx)
		if ok, wait := h.cfg.AddressLimit.Allow(ratelimit.AddrKey(addr), len(s.events), now); !ok {
			h.limited(ctx, ep, rsRateAddress, wait)
			return
		}
		ip = h.appendIP(s, addr)
		ua = s.userAgent(ua)
	}
	for i := range s.events {
		e := &s.events[i]
		if err := h.stampTime(s, e, ms); err != nil {
			h.reject(ctx, ep, fasthttp.StatusBadRequest, rsInvalid, batchErr(len(s.events), i, err))
			return
		}
		e.Ingest = in
		if in != event.IngestAPI {
			e.F[event.UserAgent] = ua
			if len(e.F[event.VisitorID]) == 0 {
				e.F[event.VisitorID] = h.cookielessID(s, now, e.F[event.Site], addr, ua)
			}
			e.F[event.IP] = ip
		}
		if err := e.Validate(); err != nil {
			h.reject(ctx, ep, fasthttp.StatusBadRequest, rsInvalid, batchErr(len(s.events), i, err))
			return
		}
		if r, err := h.siteCheck(ctx, e, in); err != nil {
			h.refuseSite(ctx, ep, r, batchErr(len(s.events), i, err))
			return
		}
	}
	if !h.allowSites(ctx, ep, s, now) {
		return
	}
	if err := h.enqueue(s); err != nil {
		h.refuse(ctx, ep, err)
		return
	}
	accepted[ep].Add(float64(len(s.events)))
	if ep == epPixel {
		h.answer(ctx, ep, fasthttp.StatusOK, "")
	} else {
		ctx.SetStatusCode(fasthttp.StatusAccepted)
	}
}

// siteCheck refuses an event for a site the registry does not hold and,
// for a site that takes hits from its domains only, a browser's event
// whose page or Origin is on another domain. A page or an Origin that
// names no host (an e-mail's pixel, a page without a referrer) says
// nothing either way.
func (h *Handler) siteCheck(ctx *fasthttp.RequestCtx, e *event.Event, in event.Ingest) (reason, error) {
	entry := h.cfg.Sites.Lookup(e.F[event.Site])
	if entry == nil {
		return rsUnknownSite, errUnknownSite
	}
	if in == event.IngestAPI || !entry.Restricted() {
		return 0, nil
	}
	if host := sites.HostOfURL(e.F[event.URL]); len(host) > 0 && !entry.ListsHost(host) {
		return rsForeignDomain, errForeignPage
	}
	if origin := ctx.Request.Header.Peek("Origin"); len(origin) > 0 && !entry.ListsHost(sites.HostOfURL(origin)) {
		return rsForeignDomain, errForeignOrigin
	}
	return 0, nil
}

// refuseSite answers a hit siteCheck refused: the pixel with its image
// (a page never shows a broken one) and the reason in headers, the other
// endpoints with 400 and the reason; both counted.
func (h *Handler) refuseSite(ctx *fasthttp.RequestCtx, ep endpoint, r reason, err error) {
	if ep == epPixel {
		rejected[ep][r].Inc()
		ctx.Response.Header.Set("X-Footfall-Rejected", reasonNames[r])
		h.answer(ctx, ep, fasthttp.StatusOK, reasonNames[r])
		return
	}
	h.reject(ctx, ep, fasthttp.StatusBadRequest, r, err)
}

// allowOrigin sets the beacon's Access-Control-Allow-Origin: the request's
// origin when listed (a site lists its domain), else * when anyOrigin
// (the site takes hits from any page), else nothing, and the browser
// keeps the answer from the page.
func (h *Handler) allowOrigin(ctx *fasthttp.RequestCtx, origin []byte, listed, anyOrigin bool) {
	hdr := &ctx.Response.Header
	switch {
	case listed && len(origin) > 0:
		hdr.SetBytesV("Access-Control-Allow-Origin", origin)
		hdr.Set("Vary", "Origin")
	case anyOrigin:
		hdr.Set("Access-Control-Allow-Origin", "*")
	default:
		hdr.Del("Access-Control-Allow-Origin")
		hdr.Set("Vary", "Origin")
	}
}

// allowSites takes each site's events of s from its bucket, answering
// and reporting false when one has too few.
func (h *Handler) allowSites(ctx *fasthttp.RequestCtx, ep endpoint, s *scratch, now time.Time) bool {
	if h.cfg.SiteLimit == nil {
		return true
	}
	for i := 0; i < len(s.events); {
		site := s.events[i].F[event.Site]
		j := i + 1
		for j < len(s.events) && string(s.events[j].F[event.Site]) == string(site) {
			j++
		}
		if ok, wait := h.cfg.SiteLimit.Allow(h.cfg.SiteLimit.KeyOf(site), j-i, now); !ok {
			h.limited(ctx, ep, rsRateSite, wait)
			return false
		}
		i = j
	}
	return true
}

// limited answers a request over a rate limit: 429 with Retry-After and
// the reason, or for an image (the pixel, an open) the image, not queued,
// with the reason in a header. Either is counted.
func (h *Handler) limited(ctx *fasthttp.RequestCtx, ep endpoint, r reason, wait time.Duration) {
	setRetryAfter(ctx, wait)
	if ep == epPixel || ep == epOpen {
		rejected[ep][r].Inc()
		h.answer(ctx, epPixel, fasthttp.StatusOK, "rate-limit")
		return
	}
	err := errAddressLimited
	if r == rsRateSite {
		err = errSiteLimited
	}
	h.reject(ctx, ep, fasthttp.StatusTooManyRequests, r, err)
}

// setRetryAfter says in whole seconds, at least one, when to send again.
func setRetryAfter(ctx *fasthttp.RequestCtx, wait time.Duration) {
	secs := max(int64((wait+time.Second-1)/time.Second), 1)
	var buf [20]byte
	ctx.Response.Header.SetBytesV("Retry-After", strconv.AppendInt(buf[:0], secs, 10))
}

// enqueue encodes the events of s and hands them to the queue, all or none.
func (h *Handler) enqueue(s *scratch) error {
	// Encode every event back to back, then point the messages into the
	// finished buffer: appending may have moved it.
	s.ends = s.ends[:0]
	for i := range s.events {
		s.buf = event.Append(s.buf, &s.events[i])
		s.ends = append(s.ends, len(s.buf))
	}
	start := 0
	for i, end := range s.ends {
		s.msgs = append(s.msgs, kafkaout.Msg{Key: partitionKey(&s.events[i]), Value: s.buf[start:end]})
		start = end
	}
	return h.q.Enqueue(s.msgs...)
}

// refuse answers a request whose events the queue did not take.
// The pixel still answers its image, with the status and the reason in a
// header: a broken image on the page helps nobody.
func (h *Handler) refuse(ctx *fasthttp.RequestCtx, ep endpoint, err error) {
	status, r := fasthttp.StatusRequestEntityTooLarge, rsTooLarge
	switch {
	case errors.Is(err, kafkaout.ErrFull):
		ctx.Response.Header.Set("Retry-After", "1")
		status, r = fasthttp.StatusServiceUnavailable, rsQueueFull
	case errors.Is(err, kafkaout.ErrClosed):
		status, r = fasthttp.StatusServiceUnavailable, rsShutdown
	}
	if ep == epPixel {
		rejected[ep][r].Inc()
		ctx.Response.Header.Set("X-Footfall-Rejected", reasonNames[r])
		h.answer(ctx, ep, status, reasonNames[r])
		return
	}
	h.reject(ctx, ep, status, r, err)
}

// partitionKey keeps one visitor's events in one partition, in order. The
// server API may know only the person (user_id), never neither: then the
// event id spreads the load.
func partitionKey(e *event.Event) []byte {
	switch {
	case len(e.F[event.VisitorID]) > 0:
		return e.F[event.VisitorID]
	case len(e.F[event.UserID]) > 0:
		return e.F[event.UserID]
	}
	return e.ID[:]
}

// answer writes the pixel (for the pixel endpoint) or an empty success,
// with the drop reason in a header when the hit was not kept.
func (h *Handler) answer(ctx *fasthttp.RequestCtx, ep endpoint, status int, dropReason string) {
	if dropReason != "" {
		ctx.Response.Header.Set("X-Footfall-Dropped", dropReason)
	}
	if ep != epPixel {
		ctx.SetStatusCode(fasthttp.StatusAccepted)
		return
	}
	ctx.SetStatusCode(status)
	ctx.SetContentType("image/gif")
	ctx.Response.Header.Set("Cache-Control", "no-store, max-age=0")
	ctx.SetBody(GIF)
}

func truncateUA(ua []byte) []byte {
	if max := event.Specs[event.UserAgent].MaxLen; len(ua) > max {
		return ua[:max]
	}
	return ua
}

// clientAddr is the connection's address or, when that is a trusted
// proxy, the right-most address of its forwarding header that no trusted
// proxy has (package clientaddr).
func (h *Handler) clientAddr(ctx *fasthttp.RequestCtx) netip.Addr {
	peer, _ := netip.AddrFromSlice(ctx.RemoteIP())
	peer = peer.Unmap()
	if !h.cfg.Proxies.Enabled() || !h.cfg.Proxies.Trusted(peer) {
		return peer
	}
	name := h.cfg.Proxies.Header().Name()
	if announcedTrailer(&ctx.Request.Header, name) {
		// A trailer comes after the body, after every line a proxy
		// added: a client could append its own entry there.
		return peer
	}
	return h.cfg.Proxies.Client(peer, ctx.Request.Header.PeekAll(name))
}

// announcedTrailer says whether the request announces name as a trailer.
func announcedTrailer(hdr *fasthttp.RequestHeader, name string) bool {
	for t := range hdr.Trailers() {
		if len(t) == len(name) && equalFoldASCII(t, name) {
			return true
		}
	}
	return false
}

func equalFoldASCII(b []byte, s string) bool {
	for i := range b {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// arenaPerEvent bounds what one event adds to the arena: a cookieless id
// (18 bytes), and for the request an address (at most 45 bytes of text).
const arenaPerEvent = 64

// keep appends b to the arena and returns the copy.
func (s *scratch) keep(b []byte) []byte {
	start := len(s.arena)
	s.arena = append(s.arena, b...)
	return s.arena[start:len(s.arena):len(s.arena)]
}

// appendIP formats addr into the arena, anonymised unless configured otherwise.
func (h *Handler) appendIP(s *scratch, addr netip.Addr) []byte {
	if !addr.IsValid() {
		return nil
	}
	if !h.cfg.KeepFullIP {
		bits := 24
		if addr.Is6() {
			bits = 48
		}
		if p, err := addr.Prefix(bits); err == nil {
			addr = p.Addr()
		}
	}
	var buf [48]byte
	return s.keep(addr.AppendTo(buf[:0]))
}

// cookielessID is the visitor id of a hit that brought none: a hash of the
// site, the full client address and the user agent, salted with a secret and
// the day, so a visitor is recognised for one day and never beyond it.
func (h *Handler) cookielessID(s *scratch, now time.Time, site []byte, addr netip.Addr, ua []byte) []byte {
	day := now.UTC().Unix() / 86400
	in := append(s.hashIn[:0], h.cfg.CookielessSecret...)
	in = append(in, byte(day>>24), byte(day>>16), byte(day>>8), byte(day), 0)
	in = append(in, site...)
	in = append(in, 0)
	in = addr.AppendTo(in)
	in = append(in, 0)
	in = append(in, ua...)
	s.hashIn = in
	sum := sha256.Sum256(in)
	var id [18]byte
	id[0], id[1] = 'c', '-'
	hex.Encode(id[2:], sum[:8])
	return s.keep(id[:])
}

func setCORS(ctx *fasthttp.RequestCtx) {
	h := &ctx.Response.Header
	h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Content-Type")
	h.Set("Access-Control-Max-Age", "86400")
}
