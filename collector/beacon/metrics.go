package beacon

import (
	"encoding/json"
	"errors"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/valyala/fasthttp"
)

type endpoint int

const (
	epPixel endpoint = iota
	epBeacon
	epAPI
	epOpen
	epClick
	epUnsubscribe
	// epUnknown is a request refused before its path was read.
	epUnknown
	numEndpoints
)

var endpointNames = [numEndpoints]string{"pixel", "beacon", "api", "email_open", "email_click", "unsubscribe", "unknown"}

type reason int

const (
	rsInvalid reason = iota
	rsTooLarge
	rsQueueFull
	rsShutdown
	rsUnauthorized
	rsMethod
	rsHeadersTooLarge
	// rsUnknownKey is a key that names nothing (see keyOf), apart from
	// other invalid input: after a deploy, it is the sign of a sender that
	// disagrees with the collector on the fields.
	rsUnknownKey
	// rsRateAddress and rsRateSite are hits over the token bucket of their
	// client address or of their site (-rate-limit-*).
	rsRateAddress
	rsRateSite
	// rsMalformed is a request fasthttp could not read as HTTP.
	rsMalformed
	// rsUnverifiedToken is a newsletter link's recipient token of a
	// token's shape that the link secret did not make: an invented one.
	rsUnverifiedToken
	// rsUnknownSite is a hit for a site the registry does not hold;
	// rsForeignDomain one from a page or Origin on none of its site's
	// domains (internal/sites).
	rsUnknownSite
	rsForeignDomain
	numReasons
)

var reasonNames = [numReasons]string{"invalid", "too_large", "queue_full", "shutting_down", "unauthorized", "method",
	"headers_too_large", "unknown_key", "rate_limited_address", "rate_limited_site", "malformed", "unverified_token",
	"unknown_site", "foreign_domain"}

// invalidReason is the reason an input error is counted under.
func invalidReason(err error) reason {
	var u unknownKeyError
	if errors.As(err, &u) {
		return rsUnknownKey
	}
	return rsInvalid
}

var (
	acceptedVec = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "collector_events_accepted_total",
		Help: "Events queued for Kafka, by endpoint.",
	}, []string{"endpoint"})
	droppedVec = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "collector_events_dropped_bot_total",
		Help: "Well-formed events dropped because the client is a bot, by endpoint.",
	}, []string{"endpoint"})
	rejectedVec = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "collector_requests_rejected_total",
		Help: "Requests refused, by endpoint and reason.",
	}, []string{"endpoint", "reason"})

	// Resolved once so that a hit costs no label lookup.
	accepted [numEndpoints]prometheus.Counter
	dropped  [numEndpoints]prometheus.Counter
	rejected [numEndpoints][numReasons]prometheus.Counter
)

func init() {
	for ep := endpoint(0); ep < numEndpoints; ep++ {
		accepted[ep] = acceptedVec.WithLabelValues(endpointNames[ep])
		dropped[ep] = droppedVec.WithLabelValues(endpointNames[ep])
		for r := reason(0); r < numReasons; r++ {
			rejected[ep][r] = rejectedVec.WithLabelValues(endpointNames[ep], reasonNames[r])
		}
	}
}

// reject answers status with a JSON reason and counts it. The pixel
// answers a GET or HEAD it refuses with its image and 200, as for an
// unknown site: an <img> or an e-mail client's image proxy shows an error
// status as a broken image, so the reason is in X-Footfall-Rejected and
// the message in X-Footfall-Error (printable ASCII, cut at 300 bytes).
func (h *Handler) reject(ctx *fasthttp.RequestCtx, ep endpoint, status int, r reason, err error) {
	rejected[ep][r].Inc()
	if ep == epPixel && (ctx.IsGet() || ctx.IsHead()) {
		ctx.Response.Header.Set("X-Footfall-Rejected", reasonNames[r])
		ctx.Response.Header.Set("X-Footfall-Error", headerText(err.Error()))
		h.answer(ctx, ep, fasthttp.StatusOK, reasonNames[r])
		return
	}
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.Response.Header.Set("X-Footfall-Rejected", reasonNames[r])
	// A cold path: encoding/json escapes whatever bytes a parse error quotes.
	msg, _ := json.Marshal(err.Error())
	ctx.SetBodyString(`{"error":` + string(msg) + "}\n")
}

// TooLarge answers a body over the size limit; the server calls it from its
// error handler, where fasthttp reports the limit.
func TooLarge(ctx *fasthttp.RequestCtx) {
	ep := epBeacon
	if string(ctx.Path()) == pathAPI {
		ep = epAPI
	}
	rejected[ep][rsTooLarge].Inc()
	ctx.SetStatusCode(fasthttp.StatusRequestEntityTooLarge)
	ctx.SetContentType("application/json")
	ctx.SetBodyString(`{"error":"body too large"}` + "\n")
}

// HeadersTooLarge answers a request whose line and headers together pass
// the server's read buffer of max bytes (431, RFC 6585); the server calls
// it from its error handler, before the path is known.
func HeadersTooLarge(ctx *fasthttp.RequestCtx, max int) {
	rejected[epUnknown][rsHeadersTooLarge].Inc()
	ctx.SetStatusCode(fasthttp.StatusRequestHeaderFieldsTooLarge)
	ctx.SetContentType("application/json")
	ctx.Response.Header.Set("X-Footfall-Rejected", reasonNames[rsHeadersTooLarge])
	ctx.SetBodyString(`{"error":"request line and headers over ` + strconv.Itoa(max) + ` bytes"}` + "\n")
}

// Malformed answers a request fasthttp could not read as HTTP, with a
// short body of our own: fasthttp's error quotes up to 4 KB of the raw
// request (its cookies, say, back to whoever forged it), and says
// nothing a sender can act on. The server calls it from its error
// handler.
func Malformed(ctx *fasthttp.RequestCtx) {
	rejected[epUnknown][rsMalformed].Inc()
	ctx.SetStatusCode(fasthttp.StatusBadRequest)
	ctx.SetContentType("application/json")
	ctx.Response.Header.Set("X-Footfall-Rejected", reasonNames[rsMalformed])
	ctx.SetBodyString(`{"error":"malformed HTTP request"}` + "\n")
}

// headerText is s as a header value: printable ASCII (other bytes are
// "?"), at most 300 bytes.
func headerText(s string) string {
	b := []byte(s)
	if len(b) > 300 {
		b = b[:300]
	}
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			b[i] = '?'
		}
	}
	return string(b)
}
