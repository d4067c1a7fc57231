// Package enrich derives what reports group by from a raw event: URL host
// and path, traffic source and medium from the referrer or campaign tags,
// and browser, OS and device class from the user agent.
package enrich

import (
	"flag"
	"net/url"
	"strings"

	"footfall/internal/event"
	"footfall/internal/geoip"
	"footfall/internal/sites"
	"footfall/internal/urlform"
	"footfall/internal/useragent"
)

// Result is what Enrich adds to an event. Its strings may share memory with
// the event's buffers.
type Result struct {
	URLHost, URLPath    string
	ReferrerHost        string
	Source, Medium      string
	UTMSource           string
	UTMMedium           string
	UTMCampaign         string
	UTMTerm, UTMContent string
	Affiliate, ClickID  string
	// Referrer is the referrer as stored: its path in the readable form
	// URLPath has (see urlform.Path).
	Referrer string
	UA       useragent.Info
	Country  string // ISO 3166 code, with a GeoIP database
	// UserID is normalised (see event.NormalizeUser); VisitorID falls back
	// to event.UserVisitorPrefix + UserID when the event has none.
	UserID, VisitorID string
	// RecipientToken is the ff_rt landing parameter a newsletter click
	// adds: the processor turns it into the recipient's user id.
	RecipientToken string
	// Proof is how the event was proven (event.ProofOf: the server API,
	// a newsletter link, a confirmation, or a browser's claim), stored
	// as events.proof; the consent ledger and the identity map keep it.
	Proof string
}

// Enricher keeps a user-agent cache, and one of countries when it has a
// GeoIP database; one per goroutine, it is not locked.
type Enricher struct {
	ua      cache[useragent.Info]
	geo     *geoip.DB
	country cache[string]
	refs    cache[knownHost] // referrer hosts' sources
	ignored ignoredSet       // referrers that are not a source
	names   cache[hostNames] // hosts' names by the Public Suffix List
	sites   *sites.Registry  // the sites' domains, internal referrers; may be nil
}

// New returns an Enricher caching up to cacheSize user agents. Real traffic
// has few distinct user agents, so most lookups hit.
func New(cacheSize int) *Enricher {
	if cacheSize <= 0 {
		cacheSize = 10000
	}
	return &Enricher{ua: newCache[useragent.Info](cacheSize), country: newCache[string](cacheSize),
		refs: newCache[knownHost](cacheSize), ignored: defaultIgnored, names: newCache[hostNames](cacheSize)}
}

// DefaultIgnoredReferrers are the pages a buyer or a visitor passes
// through and comes back from within one visit: a return from them
// continues the visit, it is not a new source (nor a partner site owed a
// commission). By kind: wallets and payment service providers' hosted
// pages, buy-now-pay-later providers, iDEAL and bank redirects where the
// bank's host or path says so, the card schemes' 3-D Secure pages (a
// bank's access control server), and sign-in (SSO, OAuth) pages. Each is
// from the provider's own documentation of its checkout or sign-in host
// (the hosts a shop allows in its content security policy), gathered by
// hand: no maintained list of them exists (GA4's and Matomo's lists of
// referrals to exclude are the operator's own). A name ending in ".*"
// stands for it under every public suffix (paypal.de, payments.amazon.co.uk,
// mercadopago.com.ar); a name with a path ("facebook.com/dialog/oauth")
// matches only referrers whose path starts with it, after a Graph-API
// style version segment (/v19.0) if any. -ignore-referrers replaces the
// list.
var DefaultIgnoredReferrers = []string{
	// wallets and payment service providers' hosted pages
	"paypal.*", "paypalobjects.com", "stripe.com", "stripe.network", "link.com", "mollie.com", "adyen.com", "adyen.link",
	"sofort.*", "pay.google.com", "payments.amazon.*", "pay.amazon.*", "amazon.*/ap/", "payu.*", "payu.in", "payulatam.com",
	"przelewy24.pl", "braintreegateway.com", "checkout.com", "worldpay.com", "paddle.com", "lemonsqueezy.com",
	"twint.ch", "satispay.com", "bancontact.com", "payconiq.com", "blik.com", "trustly.com",
	"shop.app", "pay.shopify.com", "squareup.com", "square.link", "authorize.net", "2checkout.com", "verifone.cloud",
	"worldline.com", "ingenico.com", "ogone.com", "saferpay.com", "sips-atos.com", "sips-services.com",
	"nexigroup.com", "nets.eu", "dibspayment.eu", "vipps.no", "mobilepay.dk", "sumup.com", "payplug.com",
	"payzen.eu", "lyra.com", "redsys.es", "bizum.es", "monei.com", "multisafepay.com", "buckaroo.nl", "pay.nl",
	"mercadopago.*", "pagseguro.uol.com.br", "pagar.me", "ebanx.com", "dlocal.com",
	"razorpay.com", "paytm.*", "paytm.in", "ccavenue.com", "cashfree.com", "phonepe.com", "instamojo.com", "billdesk.com",
	"paystack.com", "flutterwave.com", "payfast.co.za", "yoco.com", "midtrans.com", "xendit.co", "2c2p.com",
	"alipay.com", "pay.weixin.qq.com",
	// buy now, pay later
	"klarna.*", "afterpay.com", "clearpay.co.uk", "clearpay.*", "affirm.com", "scalapay.com", "getalma.eu", "almapay.com",
	"zip.co", "quadpay.com", "sezzle.com", "paybright.com", "laybuy.com", "tabby.ai", "tamara.co", "ratepay.com",
	"riverty.*", "afterpay.nl", "billie.io", "in3.nl", "payin3.nl", "oney.*", "cofidis.*", "pagolight.it", "heidipay.com",
	// iDEAL: the scheme's pages, and the banks' iDEAL hosts and paths
	"ideal.nl", "ing.nl/ideal", "ideal.ing.nl", "abnamro.nl/ideal", "ideal.abnamro.nl", "betalen.rabobank.nl",
	"rabobank.nl/ideal", "ideal.rabobank.nl", "snsbank.nl/ideal", "ideal.snsbank.nl", "asnbank.nl/ideal",
	"ideal.asnbank.nl", "regiobank.nl/ideal", "ideal.regiobank.nl", "triodos.nl/ideal", "ideal.triodos.nl",
	"knab.nl/ideal", "ideal.knab.nl", "bunq.com/ideal", "ideal.bunq.com", "vanlanschot.nl/ideal",
	"handelsbanken.nl/ideal", "revolut.com/ideal", "ideal.revolut.com", "yoursafe.nl/ideal", "n26.com/ideal",
	// 3-D Secure access control servers
	"cardinalcommerce.com", "arcot.com", "3dsecure.io", "securesuite.net", "modirum.com", "netcetera.com",
	"wlp-acs.com", "gpayments.com", "ravelin.com", "3ds.adyen.com",
	// sign-in pages: SSO and OAuth providers
	"accounts.google.com", "login.microsoftonline.com", "login.microsoft.com", "login.live.com", "account.live.com",
	"login.windows.net", "appleid.apple.com", "idmsa.apple.com", "facebook.com/dialog/", "facebook.com/login",
	"github.com/login", "login.yahoo.com", "api.twitter.com/oauth", "twitter.com/i/oauth2", "x.com/i/oauth2",
	"linkedin.com/oauth", "discord.com/oauth2", "accounts.spotify.com", "id.twitch.tv", "oauth.vk.com", "id.vk.com",
	"passport.yandex.*", "oauth.yandex.*", "auth0.com", "okta.com", "oktapreview.com", "onelogin.com",
	"login.salesforce.com", "amazoncognito.com", "firebaseapp.com/__/auth", "web.app/__/auth", "accounts.dev",
}

// ignoredRef is an entry of -ignore-referrers, parsed: host with its
// subdomains (under every public suffix when anyTLD), and, when path is
// set, only referrers whose path starts with it.
type ignoredRef struct {
	host   string
	anyTLD bool
	path   string
}

// IgnoreReferrers makes referrals from these hosts and their subdomains
// count as internal: the site's other domains, payment providers' return
// pages, sign-in pages. It replaces DefaultIgnoredReferrers.
func (en *Enricher) IgnoreReferrers(hosts []string) { en.ignored = parseIgnored(hosts) }

// ignoredSet is -ignore-referrers indexed by name, so that a referrer costs
// a map look-up per label of its host instead of a comparison per entry:
// with the default list's 230 entries the scan was a quarter of the
// processor's CPU at 20,000 events/s (docs/perf.md, "The processor").
type ignoredSet struct {
	byHost map[string][]ignoredRef // a host, for itself and its subdomains
	byName map[string][]ignoredRef // a name under every public suffix (paypal.*: paypal)
}

func parseIgnored(hosts []string) ignoredSet {
	set := ignoredSet{byHost: map[string][]ignoredRef{}, byName: map[string][]ignoredRef{}}
	for _, h := range hosts {
		h = strings.TrimSpace(h)
		h, path, _ := strings.Cut(h, "/")
		if path != "" {
			path = "/" + path
		}
		var r ignoredRef
		r.host, r.anyTLD = strings.CutSuffix(h, ".*")
		if r.host = strings.TrimPrefix(urlform.Host(r.host), "www."); r.host == "" {
			continue
		}
		r.path = path
		if r.anyTLD {
			set.byName[r.host] = append(set.byName[r.host], r)
		} else {
			set.byHost[r.host] = append(set.byHost[r.host], r)
		}
	}
	return set
}

// match says whether a referral from refHost (its path refPath; base,
// refHost without its public suffix) is one of the set's: refHost is a
// listed host or below one, or base a listed name or below one; and its
// path starts with the entry's path, if it has one. It does not allocate.
func (set *ignoredSet) match(refHost, base, refPath string) bool {
	return matchUnder(set.byHost, refHost, refPath) || matchUnder(set.byName, base, refPath)
}

// matchUnder looks host and each of its parent names (a.b.c, b.c, c) up
// in m, and says whether an entry found takes refPath.
func matchUnder(m map[string][]ignoredRef, host, refPath string) bool {
	for {
		for _, ig := range m[host] {
			if ig.path == "" || pathUnder(refPath, ig.path) {
				return true
			}
		}
		i := strings.IndexByte(host, '.')
		if i < 0 {
			return false
		}
		host = host[i+1:]
	}
}

var defaultIgnored = parseIgnored(DefaultIgnoredReferrers)

// UseSites makes every domain a site lists in the registry (sites.Site
// Domains, each with its subdomains) an internal referrer of that site:
// a visitor going from shop.example to shop.de, both the site's, stays
// in the visit. The registry is read at each event, without a lock or an
// allocation, so a domain added through the API counts within its reload.
func (en *Enricher) UseSites(reg *sites.Registry) { en.sites = reg }

// UseGeoIP makes the enricher fill Result.Country from db.
func (en *Enricher) UseGeoIP(db *geoip.DB) { en.geo = db }

// Enrich fills r from e. It first replaces the e-mail addresses of e's
// URL, referrer, free text and properties with [email] (internal/redact),
// so that no address is stored outside the fields that name a person.
func (en *Enricher) Enrich(e *event.Event, r *Result) {
	redactEmails(e)
	*r = Result{
		UTMSource: s(e, event.UTMSource), UTMMedium: s(e, event.UTMMedium),
		UTMCampaign: s(e, event.UTMCampaign), UTMTerm: s(e, event.UTMTerm),
		UTMContent: s(e, event.UTMContent), Affiliate: s(e, event.Affiliate),
		ClickID: s(e, event.ClickID),
	}
	u := splitURL(s(e, event.URL))
	r.URLHost, r.URLPath = u.host, urlform.Path(u.path)
	if r.URLPath == "" && r.URLHost != "" {
		r.URLPath = "/"
	}
	var l landing
	var click, tag *event.Param
	var alias [event.NumFields]string // Matomo's names for the utm tags
	eachParam(u.query, func(p *event.Param, v string) {
		switch p.Kind {
		case event.ParamTag:
			if p.Field == event.NumFields {
				return
			}
			if strings.HasPrefix(p.Name, "utm_") {
				setIfEmpty(r.field(p.Field), v)
			} else {
				setIfEmpty(&alias[p.Field], v)
			}
		case event.ParamAffiliate:
			setIfEmpty(&r.Affiliate, v)
		case event.ParamRef:
			l.ref = v
		case event.ParamRecipient:
			r.RecipientToken = v
		case event.ParamClickID:
			// The first click id on the landing names the platform; one
			// the event carries (the snippet keeps it for the session)
			// wins as the stored id.
			if click == nil {
				click = p
				setIfEmpty(&r.ClickID, v)
			}
		case event.ParamPlatform:
			if tag == nil {
				tag = p
			}
		}
	})
	for f, v := range alias {
		if v != "" {
			setIfEmpty(r.field(event.Field(f)), v)
		}
	}
	l.platform = click
	if l.platform == nil {
		l.platform = tag
	}
	rawRef := s(e, event.Referrer)
	ru := splitURL(rawRef)
	r.ReferrerHost = ru.host
	r.Referrer = rawRef
	if p := urlform.Path(ru.path); p != ru.path {
		r.Referrer = canonicalReferrer(rawRef, ru.path, p)
	}
	r.Source, r.Medium = en.source(r, l, ru, rawRef, e.F[event.Site])
	// A shop's backend and a newsletter's pixel or link have no browser to
	// judge: the server API is trusted, and e-mail events are told apart by
	// their own rules (campaigns.OpenKind), so neither is ever a bot here.
	if e.Ingest != event.IngestAPI && e.Ingest != event.IngestEmail {
		r.UA = en.userAgent(s(e, event.UserAgent))
	}
	if ip := s(e, event.IP); en.geo != nil && ip != "" {
		r.Country = en.country.get(ip, en.geo.Country)
	}
	r.Proof = event.ProofOf(e.Ingest, e.F[event.Type])
	r.UserID = event.NormalizeUser(s(e, event.UserID))
	r.VisitorID = s(e, event.VisitorID)
	if r.VisitorID == "" && r.UserID != "" {
		r.VisitorID = event.UserVisitorPrefix + r.UserID
	}
}

func (en *Enricher) userAgent(ua string) useragent.Info { return en.ua.get(ua, useragent.Parse) }

// cache remembers what a function computed for a key. Two generations bound
// it without an LRU list: when the young one is full it becomes the old
// one, and what is still used moves back.
type cache[V any] struct {
	young, old map[string]V
	max        int
}

func newCache[V any](max int) cache[V] { return cache[V]{young: make(map[string]V), max: max} }

func (c *cache[V]) get(key string, compute func(string) V) V {
	v, ok := c.peek(key)
	if !ok {
		v = compute(key)
		c.put(key, v)
	}
	return v
}

// peek returns what the cache holds for key, moving it back to the young
// generation if it was in the old one.
func (c *cache[V]) peek(key string) (V, bool) {
	if v, ok := c.young[key]; ok {
		return v, true
	}
	v, ok := c.old[key]
	if ok {
		c.put(key, v)
	}
	return v, ok
}

func (c *cache[V]) put(key string, v V) {
	if len(c.young) >= c.max {
		c.old, c.young = c.young, make(map[string]V, c.max)
	}
	c.young[strings.Clone(key)] = v // key points into a Kafka message
}

type urlParts struct{ host, path, query string }

// splitURL cuts an absolute URL into host (in its one form, see
// urlform.Host, without port or credentials), path and query, without
// url.Parse's allocations.
func splitURL(raw string) urlParts {
	var p urlParts
	i := strings.Index(raw, "://")
	if i < 0 {
		return p
	}
	rest := raw[i+3:]
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	host := rest[:end]
	if at := strings.LastIndexByte(host, '@'); at >= 0 {
		host = host[at+1:]
	}
	if c := strings.LastIndexByte(host, ':'); c >= 0 && !strings.Contains(host[c:], "]") {
		host = host[:c]
	}
	p.host = urlform.Host(host)
	rest = rest[end:]
	if h := strings.IndexByte(rest, '#'); h >= 0 {
		rest = rest[:h]
	}
	if q := strings.IndexByte(rest, '?'); q >= 0 {
		p.path, p.query = rest[:q], rest[q+1:]
	} else {
		p.path = rest
	}
	return p
}

// canonicalReferrer is raw with its path, found at the first occurrence of
// path after the host, replaced by readable.
func canonicalReferrer(raw, path, readable string) string {
	i := strings.Index(raw, "://")
	if i < 0 {
		return raw
	}
	j := strings.Index(raw[i+3:], path)
	if j < 0 {
		return raw
	}
	j += i + 3
	return raw[:j] + readable + raw[j+len(path):]
}

// eachParam calls f with each campaign parameter of a query string
// (event.LandingParam, names in any case) that has a value, decoded.
func eachParam(query string, f func(p *event.Param, v string)) {
	for query != "" {
		var kv string
		kv, query, _ = strings.Cut(query, "&")
		k, v, _ := strings.Cut(kv, "=")
		p := event.LandingParam(k)
		if p == nil {
			continue
		}
		if u, err := url.QueryUnescape(v); err == nil {
			v = u
		}
		// A value over its bound is cut as the collector cuts it, not
		// dropped.
		v = event.CutValue(v, p)
		if v != "" {
			f(p, v)
		}
	}
}

// field is the tag of r that field f fills.
func (r *Result) field(f event.Field) *string {
	switch f {
	case event.UTMSource:
		return &r.UTMSource
	case event.UTMMedium:
		return &r.UTMMedium
	case event.UTMCampaign:
		return &r.UTMCampaign
	case event.UTMTerm:
		return &r.UTMTerm
	case event.UTMContent:
		return &r.UTMContent
	case event.Affiliate:
		return &r.Affiliate
	case event.ClickID:
		return &r.ClickID
	}
	return new(string)
}

func lower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}

func setIfEmpty(dst *string, v string) {
	if *dst == "" {
		*dst = v
	}
}

func orDefault(v, d string) string {
	if v == "" {
		return d
	}
	return v
}

// s views a field as a string without copying; see Result.
func s(e *event.Event, f event.Field) string { return unsafeString(e.F[f]) }

// Config is what the operator sets of the enrichment.
type Config struct {
	// IgnoreReferrers lists, comma-separated, the hosts whose referrals
	// are internal (see Enricher.IgnoreReferrers); unset keeps
	// DefaultIgnoredReferrers.
	IgnoreReferrers string
	// Sites, when set, makes each site's domains its internal referrers
	// (Enricher.UseSites); not a flag: the processor's registry.
	Sites *sites.Registry
}

// RegisterFlags declares the enrichment's flags on fs.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.IgnoreReferrers, "ignore-referrers", strings.Join(DefaultIgnoredReferrers, ","),
		"comma-separated hosts (with their subdomains) whose referrals continue the visit instead of being a source: the site's other domains, payment providers' return pages; \"none\" ignores none")
}

// Apply sets en up as c says.
func (c Config) Apply(en *Enricher) {
	if c.Sites != nil {
		en.UseSites(c.Sites)
	}
	if c.IgnoreReferrers == "" {
		return
	}
	if c.IgnoreReferrers == "none" {
		en.IgnoreReferrers(nil)
		return
	}
	en.IgnoreReferrers(strings.Split(c.IgnoreReferrers, ","))
}
