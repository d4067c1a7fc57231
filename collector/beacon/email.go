package beacon

import (
	"bytes"
	"errors"

	"github.com/valyala/fasthttp"

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
	e.ID = event.NewID(now.UnixMilli())
	e.TimeMs = now.UnixMilli()
	e.Ingest = event.IngestEmail
	e.F[event.UserAgent] = s.userAgent(ctx.UserAgent())
	e.F[event.IP] = h.appendIP(s, h.clientAddr(ctx))
	if err := e.Validate(); err != nil {
		return err
	}
	return h.enqueue(s)
}

// open serves GET /o/{token}.gif: an open of one recipient. It answers the
// image in every case, with the reason in a header when nothing is kept.
func (h *Handler) open(ctx *fasthttp.RequestCtx, rest []byte) {
	tok := bytes.TrimSuffix(rest, suffixGIF)
	if !links.ValidToken(tok) {
		rejected[epOpen][rsInvalid].Inc()
		h.answer(ctx, epPixel, fasthttp.StatusOK, "bad-token")
		return
	}
	s := h.get()
	defer h.put(s)
	e := s.next()
	e.F[event.Type] = typeEmailOpen
	e.Props = append(e.Props, event.Prop{Key: propToken, Value: tok})
	if err := h.emailEvent(ctx, s, e); err != nil {
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
		h.page(ctx, epClick, fasthttp.StatusNotFound, rsInvalid, errNoLinks, pageNoLink)
		return
	}
	tok, link, ok := bytes.Cut(rest, []byte("/"))
	args := ctx.QueryArgs()
	target, sig := args.Peek("u"), args.Peek("s")
	if !ok || len(link) == 0 || len(link) > 16 || len(target) == 0 ||
		!bytes.HasPrefix(target, []byte("http://")) && !bytes.HasPrefix(target, []byte("https://")) ||
		!h.cfg.Links.CheckClick(string(link), string(target), string(sig)) {
		h.page(ctx, epClick, fasthttp.StatusBadRequest, rsInvalid, errBadSignature, pageBadLink)
		return
	}
	loc := string(target)
	if links.ValidToken(tok) {
		s := h.get()
		e := s.next()
		e.F[event.Type] = typeEmailClick
		_ = s.set(e, event.URL, target)
		e.Props = append(e.Props, event.Prop{Key: propToken, Value: tok}, event.Prop{Key: propLink, Value: link})
		if err := h.emailEvent(ctx, s, e); err != nil {
			rejected[epClick][rsQueueFull].Inc() // the reader still gets where they clicked to
		} else {
			accepted[epClick].Inc()
		}
		h.put(s)
		loc = links.WithRecipient(loc, string(tok)) // before any #fragment
	} else {
		// An e-mail tool that did not fill in the token: the link still
		// works, the click is not counted.
		rejected[epClick][rsInvalid].Inc()
		ctx.Response.Header.Set("X-Footfall-Dropped", "bad-token")
	}
	ctx.Response.Header.Set("Cache-Control", "no-store")
	ctx.Response.Header.Set("Referrer-Policy", "no-referrer")
	ctx.Redirect(loc, fasthttp.StatusFound)
}

// unsubscribe serves GET or POST /u/{token}?s=signature (POST for one-click
// List-Unsubscribe, RFC 8058). It says "unsubscribed" only once the
// withdrawal is queued for Kafka.
func (h *Handler) unsubscribe(ctx *fasthttp.RequestCtx, tok []byte) {
	if h.cfg.Links == nil {
		h.page(ctx, epUnsubscribe, fasthttp.StatusNotFound, rsInvalid, errNoLinks, pageNoLink)
		return
	}
	if !links.ValidToken(tok) || !h.cfg.Links.CheckUnsubscribe(string(tok), string(ctx.QueryArgs().Peek("s"))) {
		h.page(ctx, epUnsubscribe, fasthttp.StatusBadRequest, rsInvalid, errBadSignature, pageBadLink)
		return
	}
	s := h.get()
	defer h.put(s)
	e := s.next()
	e.F[event.Type] = typeUnsubscribe
	e.Props = append(e.Props, event.Prop{Key: propToken, Value: tok})
	if err := h.emailEvent(ctx, s, e); err != nil {
		h.page(ctx, epUnsubscribe, fasthttp.StatusServiceUnavailable, rsQueueFull, err, pageRetry)
		return
	}
	accepted[epUnsubscribe].Inc()
	ctx.SetContentType("text/html; charset=utf-8")
	ctx.Response.Header.Set("Cache-Control", "no-store")
	ctx.SetBodyString(pageUnsubscribed)
}

// page answers a person (not a program) with a short HTML page.
func (h *Handler) page(ctx *fasthttp.RequestCtx, ep endpoint, status int, r reason, err error, body string) {
	rejected[ep][r].Inc()
	ctx.Response.Header.Set("X-Footfall-Rejected", reasonNames[r]+": "+err.Error())
	ctx.SetStatusCode(status)
	ctx.SetContentType("text/html; charset=utf-8")
	ctx.SetBodyString(body)
}

const (
	pageStyle        = `<!doctype html><meta charset=utf-8><meta name=viewport content="width=device-width"><style>body{font:16px system-ui,sans-serif;max-width:32em;margin:4em auto;padding:0 1em;color:#222}</style>`
	pageBadLink      = pageStyle + `<title>Invalid link</title><h1>This link is not valid</h1><p>It was changed or cut short after the e-mail was sent, so it leads nowhere. Please use the link from the original e-mail, or visit the site directly.</p>`
	pageNoLink       = pageStyle + `<title>Link not available</title><h1>This link is not available</h1><p>Newsletter links are not set up on this server.</p>`
	pageRetry        = pageStyle + `<title>Please try again</title><h1>Please try again in a moment</h1><p>Your request could not be recorded just now. Nothing was changed.</p>`
	pageUnsubscribed = pageStyle + `<title>Unsubscribed</title><h1>You are unsubscribed</h1><p>You will not receive this newsletter any more. It can take a few minutes to reach every mailing list.</p>`
)
