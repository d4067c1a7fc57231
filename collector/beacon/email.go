package beacon

import (
	"bytes"
	"errors"
	"net/netip"
	"time"

	"github.com/valyala/fasthttp"

	"footfall/collector/ratelimit"
	"footfall/internal/event"
	"footfall/internal/links"
)

// The newsletter endpoints. Their events carry the recipient token and no
// site: the processor finds the site, campaign and recipient from the token.
var (
	prefixOpen        = []byte("/o/")
	prefixClick       = []byte("/c/")
	prefixUnsubscribe = []byte("/u/")
	suffixGIF         = []byte(".gif")

	typeEmailOpen   = []byte("email_open")
	typeEmailClick  = []byte("email_click")
	typeUnsubscribe = []byte("unsubscribe")
	propToken       = []byte("token")
	propLink        = []byte("link")

	propUnverified    = []byte(links.UnverifiedProp)
	propUnverifiedYes = []byte("1")

	errBadToken     = errors.New("not a recipient token")
	errBadSignature = errors.New("link signature does not match its target")
	errNoLinks      = errors.New("newsletter links are off: the collector has no -link-secret")
)

// email routes /o/, /c/ and /u/; it reports false for other paths.
func (h *Handler) email(ctx *fasthttp.RequestCtx, path []byte) bool {
	switch {
	case bytes.HasPrefix(path, prefixOpen):
		h.open(ctx, path[len(prefixOpen):])
	case bytes.HasPrefix(path, prefixClick):
		h.click(ctx, path[len(prefixClick):])
	case bytes.HasPrefix(path, prefixUnsubscribe):
		h.unsubscribe(ctx, path[len(prefixUnsubscribe):])
	default:
		return false
	}
	return true
}

// emailEvent fills the one event of s for a newsletter endpoint and queues
// it. The user agent and address stay: they tell machine opens (privacy
// proxies, scanners) from people, so bots are not dropped here. An open or
// click whose token the collector could not verify is marked so (see
// tokenUnverified).
func (h *Handler) emailEvent(ctx *fasthttp.RequestCtx, s *scratch, e *event.Event, ep endpoint, kind tokenKind) error {
	now := h.cfg.Now()
	addr := h.clientAddr(ctx)
	if err := h.allowEmail(ep, kind, addr, now); err != nil {
		return err
	}
	e.ID = event.NewID(now.UnixMilli())
	e.TimeMs = now.UnixMilli()
	e.Ingest = event.IngestEmail
	e.F[event.UserAgent] = s.userAgent(ctx.UserAgent())
	e.F[event.IP] = h.appendIP(s, addr)
	if kind == tokenUnverified && ep != epUnsubscribe {
		e.Props = append(e.Props, event.Prop{Key: propUnverified, Value: propUnverifiedYes})
	}
	if err := e.Validate(); err != nil {
		return err
	}
	return h.enqueue(s)
}

// allowEmail takes an e-mail event from its bucket. The unsubscribe POST
// is its client address's, as every hit of a browser.
//
// An open or a click is not: its token stands for it instead. A signed
// token cannot be made without the link secret, so a flood of opens with
// made-up tokens is never queued whatever the address, and the addresses
// that fetch opens are shared: Gmail's image proxy (GoogleImageProxy)
// fetches the pixel for every Gmail reader of a send from a few
// addresses, Apple's Mail Privacy Protection for every Apple Mail one,
// and a company's mail gateway for all its staff, so a large send's
// opens would be cut at 100 a second. Tokens of an earlier version are
// not signed but are fetched by the same proxies (legacy tokens); the
// processor keeps their events only for a recipient it has. Each kind
// is held by a bucket of the site table instead (the newsletters' site
// only the processor learns, from the token): the signed tokens' and the
// others', so that invented tokens use up only their own.
func (h *Handler) allowEmail(ep endpoint, kind tokenKind, addr netip.Addr, now time.Time) error {
	if ep == epUnsubscribe {
		if ok, wait := h.cfg.AddressLimit.Allow(ratelimit.AddrKey(addr), 1, now); !ok {
			return limitedError{wait, rsRateAddress}
		}
		return nil
	}
	key := signedKey
	if kind == tokenUnverified {
		key = unverifiedKey
	}
	if ok, wait := h.cfg.SiteLimit.Allow(key, 1, now); !ok {
		return limitedError{wait, rsRateSite}
	}
	return nil
}

// signedKey and unverifiedKey name the site buckets of opens and clicks
// (see allowEmail). A site's key is 128 bits of hash (KeyOf), which
// matches neither but by a chance of 1 in 2^128.
var (
	signedKey     = ratelimit.Key{'n', 'e', 'w', 's', 'l', 'e', 't', 't', 'e', 'r', 's', ':', 's', 'i', 'g', 'n'}
	unverifiedKey = ratelimit.Key{'n', 'e', 'w', 's', 'l', 'e', 't', 't', 'e', 'r', 's', ':', 'l', 'e', 'g', 'a'}
)

// rsNone is no refusal.
const rsNone = numReasons

// tokenKind is what the collector could tell of a recipient token it
// queues.
type tokenKind uint8

const (
	// tokenSigned is a token the link secret made (Signer.NewToken).
	tokenSigned tokenKind = iota
	// tokenUnverified is a token's shape that the link secret did not
	// make: a token of an earlier version (random, links.NewToken), still
	// in the mails already sent, or an invented one; the collector cannot
	// tell them apart. Without a link secret every token is one. Its open
	// or click is queued with the unverified prop (links.UnverifiedProp),
	// and the processor keeps it only when a recipient has that token.
	tokenUnverified
)

// checkToken says what a recipient token of an open or click is, or why
// it is refused: it is no token (an e-mail tool's merge field left
// unfilled), or one the link secret did not make with -legacy-tokens
// off. Without a link secret only the shape is checked.
func (h *Handler) checkToken(tok []byte) (tokenKind, reason) {
	switch {
	case !links.ValidToken(tok):
		return 0, rsInvalid
	case h.cfg.Links == nil:
		return tokenUnverified, rsNone
	case h.cfg.Links.CheckToken(tok):
		return tokenSigned, rsNone
	case h.cfg.LegacyTokens:
		return tokenUnverified, rsNone
	}
	return 0, rsUnverifiedToken
}

// limitedError is an e-mail event over its rate limit, and which.
type limitedError struct {
	wait   time.Duration
	reason reason
}

func (l limitedError) Error() string {
	if l.reason == rsRateSite {
		return errSiteLimited.Error()
	}
	return errAddressLimited.Error()
}

// open serves GET /o/{token}.gif: an open of one recipient. It answers the
// image in every case, with the reason in a header when nothing is kept.
func (h *Handler) open(ctx *fasthttp.RequestCtx, rest []byte) {
	tok := bytes.TrimSuffix(rest, suffixGIF)
	kind, r := h.checkToken(tok)
	if r != rsNone {
		rejected[epOpen][r].Inc()
		h.answer(ctx, epPixel, fasthttp.StatusOK, "bad-token")
		return
	}
	s := h.get()
	defer h.put(s)
	e := s.next()
	e.F[event.Type] = typeEmailOpen
	e.Props = append(e.Props, event.Prop{Key: propToken, Value: tok})
	if err := h.emailEvent(ctx, s, e, epOpen, kind); err != nil {
		if l, ok := err.(limitedError); ok {
			h.limited(ctx, epOpen, l.reason, l.wait)
			return
		}
		rejected[epOpen][rsQueueFull].Inc()
		h.answer(ctx, epPixel, fasthttp.StatusOK, "queue")
		return
	}
	accepted[epOpen].Inc()
	h.answer(ctx, epPixel, fasthttp.StatusOK, "")
}

// click serves GET /c/{token}/{link}?u=target&s=signature. Only a target
// whose signature checks is ever redirected to: anything else gets a 400
// page, so the collector is no open redirect. The recipient's token goes
// along as ff_rt, so their visit (and what they buy) joins their profile.
func (h *Handler) click(ctx *fasthttp.RequestCtx, rest []byte) {
	if h.cfg.Links == nil {
		h.page(ctx, epClick, fasthttp.StatusNotFound, rsInvalid, errNoLinks, pageLanguage(ctx), pageNoLink)
		return
	}
	tok, link, ok := bytes.Cut(rest, []byte("/"))
	args := ctx.QueryArgs()
	target, sig := args.Peek("u"), args.Peek("s")
	if !ok || len(link) == 0 || len(link) > 16 || len(target) == 0 ||
		!bytes.HasPrefix(target, []byte("http://")) && !bytes.HasPrefix(target, []byte("https://")) ||
		!h.cfg.Links.CheckClick(string(link), string(target), string(sig)) {
		h.page(ctx, epClick, fasthttp.StatusBadRequest, rsInvalid, errBadSignature, pageLanguage(ctx), pageBadLink)
		return
	}
	loc := string(target)
	if kind, r := h.checkToken(tok); r == rsNone {
		s := h.get()
		e := s.next()
		e.F[event.Type] = typeEmailClick
		_ = s.set(e, event.URL, target)
		e.Props = append(e.Props, event.Prop{Key: propToken, Value: tok}, event.Prop{Key: propLink, Value: link})
		// Refused or not, the reader still gets where they clicked to.
		if err := h.emailEvent(ctx, s, e, epClick, kind); err != nil {
			if l, ok := err.(limitedError); ok {
				rejected[epClick][l.reason].Inc()
				ctx.Response.Header.Set("X-Footfall-Dropped", "rate-limit")
			} else {
				rejected[epClick][rsQueueFull].Inc()
			}
		} else {
			accepted[epClick].Inc()
		}
		h.put(s)
		loc = links.WithRecipient(loc, string(tok)) // before any #fragment
	} else {
		// An e-mail tool that did not fill in the token, or one the link
		// secret did not make with -legacy-tokens off: the link still
		// works, the click is not counted.
		rejected[epClick][r].Inc()
		ctx.Response.Header.Set("X-Footfall-Dropped", "bad-token")
	}
	ctx.Response.Header.Set("Cache-Control", "no-store")
	ctx.Response.Header.Set("Referrer-Policy", "no-referrer")
	ctx.Redirect(loc, fasthttp.StatusFound)
}

// unsubscribe serves /u/{token}?s=signature. Only a POST withdraws the
// consent: RFC 8058's one-click unsubscribe, which a mail client sends
// for the List-Unsubscribe header (with List-Unsubscribe-Post:
// List-Unsubscribe=One-Click), and the button of the page a GET shows. A
// GET is a person who clicked the link in the mail, or a link scanner or
// a mail server's preview fetching every link of it, and HEAD is a link
// checker: both are answered with that page and change nothing. The page
// and the answer are in the reader's language (Accept-Language: English
// or French). It says "unsubscribed" only once the withdrawal is queued
// for Kafka.
func (h *Handler) unsubscribe(ctx *fasthttp.RequestCtx, tok []byte) {
	l := pageLanguage(ctx)
	if h.cfg.Links == nil {
		h.page(ctx, epUnsubscribe, fasthttp.StatusNotFound, rsInvalid, errNoLinks, l, pageNoLink)
		return
	}
	sig := ctx.QueryArgs().Peek("s")
	if !links.ValidToken(tok) || !h.cfg.Links.CheckUnsubscribe(string(tok), string(sig)) {
		h.page(ctx, epUnsubscribe, fasthttp.StatusBadRequest, rsInvalid, errBadSignature, l, pageBadLink)
		return
	}
	if !ctx.IsPost() {
		// The page's form posts back here (the same path, behind any
		// prefix a proxy adds); sig checked, it is base64url.
		status := fasthttp.StatusOK
		if !ctx.IsGet() && !ctx.IsHead() {
			rejected[epUnsubscribe][rsMethod].Inc()
			ctx.Response.Header.Set("Allow", "GET, HEAD, POST")
			status = fasthttp.StatusMethodNotAllowed
		}
		writePage(ctx, status, l, pageConfirm, "?s="+string(sig))
		return
	}
	s := h.get()
	defer h.put(s)
	e := s.next()
	e.F[event.Type] = typeUnsubscribe
	e.Props = append(e.Props, event.Prop{Key: propToken, Value: tok})
	// Its own signature proves the link, whoever made the token.
	if err := h.emailEvent(ctx, s, e, epUnsubscribe, tokenSigned); err != nil {
		if lim, ok := err.(limitedError); ok {
			setRetryAfter(ctx, lim.wait)
			h.page(ctx, epUnsubscribe, fasthttp.StatusTooManyRequests, rsRateAddress, err, l, pageRetry)
			return
		}
		h.page(ctx, epUnsubscribe, fasthttp.StatusServiceUnavailable, rsQueueFull, err, l, pageRetry)
		return
	}
	accepted[epUnsubscribe].Inc()
	writePage(ctx, fasthttp.StatusOK, l, pageUnsubscribed, "")
}

// page answers a person (not a program) with a short HTML page, counting
// the refusal.
func (h *Handler) page(ctx *fasthttp.RequestCtx, ep endpoint, status int, r reason, err error, l lang, kind pageKind) {
	rejected[ep][r].Inc()
	ctx.Response.Header.Set("X-Footfall-Rejected", reasonNames[r]+": "+err.Error())
	writePage(ctx, status, l, kind, "")
}
