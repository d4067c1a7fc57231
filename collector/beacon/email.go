package beacon

import (
	"bytes"
	"errors"
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
// proxies, scanners) from people, so bots are not dropped here.
func (h *Handler) emailEvent(ctx *fasthttp.RequestCtx, s *scratch, e *event.Event) error {
	now := h.cfg.Now()
	addr := h.clientAddr(ctx)
	if ok, wait := h.cfg.AddressLimit.Allow(ratelimit.AddrKey(addr), 1, now); !ok {
		return limitedError{wait}
	}
	e.ID = event.NewID(now.UnixMilli())
	e.TimeMs = now.UnixMilli()
	e.Ingest = event.IngestEmail
	e.F[event.UserAgent] = s.userAgent(ctx.UserAgent())
	e.F[event.IP] = h.appendIP(s, addr)
	if err := e.Validate(); err != nil {
		return err
	}
	return h.enqueue(s)
}

// rsNone is no refusal.
const rsNone = numReasons

// checkToken says why a recipient token is refused, or rsNone: it is no
// token (an e-mail tool's merge field left unfilled), or one the link
// secret did not make (an invented one), which is never queued: the
// processor would find no recipient for it. Without a link secret only
// the shape is checked.
func (h *Handler) checkToken(tok []byte) reason {
	switch {
	case !links.ValidToken(tok):
		return rsInvalid
	case h.cfg.Links != nil && !h.cfg.Links.CheckToken(tok):
		return rsUnverifiedToken
	}
	return rsNone
}

// limitedError is an e-mail event over its address's rate limit.
type limitedError struct{ wait time.Duration }

func (limitedError) Error() string { return errAddressLimited.Error() }

// open serves GET /o/{token}.gif: an open of one recipient. It answers the
// image in every case, with the reason in a header when nothing is kept.
func (h *Handler) open(ctx *fasthttp.RequestCtx, rest []byte) {
	tok := bytes.TrimSuffix(rest, suffixGIF)
	if r := h.checkToken(tok); r != rsNone {
		rejected[epOpen][r].Inc()
		h.answer(ctx, epPixel, fasthttp.StatusOK, "bad-token")
		return
	}
	s := h.get()
	defer h.put(s)
	e := s.next()
	e.F[event.Type] = typeEmailOpen
	e.Props = append(e.Props, event.Prop{Key: propToken, Value: tok})
	if err := h.emailEvent(ctx, s, e); err != nil {
		if l, ok := err.(limitedError); ok {
			h.limited(ctx, epOpen, rsRateAddress, l.wait)
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
	if r := h.checkToken(tok); r == rsNone {
		s := h.get()
		e := s.next()
		e.F[event.Type] = typeEmailClick
		_ = s.set(e, event.URL, target)
		e.Props = append(e.Props, event.Prop{Key: propToken, Value: tok}, event.Prop{Key: propLink, Value: link})
		// Refused or not, the reader still gets where they clicked to.
		if err := h.emailEvent(ctx, s, e); err != nil {
			if _, ok := err.(limitedError); ok {
				rejected[epClick][rsRateAddress].Inc()
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
		// An e-mail tool that did not fill in the token, or an invented
		// one: the link still works, the click is not counted.
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
	if err := h.emailEvent(ctx, s, e); err != nil {
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
