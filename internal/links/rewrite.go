package links

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	"golang.org/x/net/html"

	"footfall/internal/event"
)

// Link is one link found in a newsletter and tracked.
type Link struct {
	ID     string `json:"id"`
	Line   int    `json:"line"`
	Target string `json:"target"`
}

// Untracked is a link left as it was, and why.
type Untracked struct {
	Line   int    `json:"line"`
	Href   string `json:"href"`
	Reason string `json:"reason"`
}

// Retagged is a tag a tracked link had that would have named its visits
// otherwise than the campaign does (another utm_campaign, utm_source or
// utm_medium, in any spelling the processor reads), replaced by the
// campaign's.
type Retagged struct {
	Line int    `json:"line"`
	Href string `json:"href"` // the link as written in the mail
	Tag  string `json:"tag"`  // the parameter's name as written
	Old  string `json:"old"`
	New  string `json:"new"`
}

// Rewritten is a newsletter with its links tracked.
type Rewritten struct {
	HTML      string      `json:"html"`
	Links     []Link      `json:"links"`
	Untracked []Untracked `json:"untracked"`
	Retagged  []Retagged  `json:"retagged"`
}

// Reasons a link stays untracked.
const (
	ReasonNotWeb      = "not a web link (%s): only http and https links are tracked"
	ReasonAnchor      = "an anchor in the mail itself"
	ReasonRelative    = "not an absolute URL: a mail has no page to resolve it against"
	ReasonMergeField  = "merge field of a mail tool: filled in per recipient after signing, so its signature would not check"
	ReasonAlready     = "already a link through the collector"
	ReasonEmpty       = "empty href"
	ReasonMalformed   = "not a valid URL: %v"
	ReasonTaggingFail = "its query string cannot take the campaign's tags"
	ReasonUnreadTag   = "its tag could not be read to replace the href"
)

// tracked says whether an element's href is a link a reader clicks: <a>,
// image maps' <area>, and the VML shapes of Outlook's buttons
// (<v:roundrect href>), which sit inside conditional comments.
func tracked(tag string) bool {
	return tag == "a" || tag == "area" || strings.HasPrefix(tag, "v:")
}

// Rewrite returns html with every http(s) link replaced by a signed click
// link through base (the collector's public address), UTM tags added to
// the target (source newsletter, medium email, campaign; a tag the link
// had naming another source, medium or campaign is replaced and listed in
// Retagged, since the campaign's id names the visits it brings), and an open
// pixel before </body>. Each link's id is LinkID of its target, so
// rewriting the campaign again (a second version, the text part) gives a
// target the id it had and never gives its id to another target; the
// token is TokenPlaceholder. An href is read as a browser reads it: HTML's
// tokenizer decodes every character reference an attribute value may hold
// (named, decimal, hexadecimal; a named one without ";" before "=" or a
// letter stays literal, as in a browser), and links inside Outlook's
// conditional comments are rewritten too. Every href left as it was is
// listed in Untracked with its line and the reason.
func (s *Signer) Rewrite(src, base, campaign string) (Rewritten, error) {
	base = strings.TrimSuffix(base, "/")
	if u, err := url.ParseRequestURI(base); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Rewritten{}, fmt.Errorf("collector base URL %q: want http(s)://host", base)
	}
	rw := rewriter{s: s, base: base, campaign: campaign, out: Rewritten{Links: []Link{}, Untracked: []Untracked{}, Retagged: []Retagged{}}}
	out, err := rw.rewrite(src, 1)
	if err != nil {
		return Rewritten{}, err
	}
	pixel := `<img src="` + escapeAttr(OpenURL(base, TokenPlaceholder)) + `" width="1" height="1" alt="" style="display:block;border:0">`
	if i := strings.LastIndex(strings.ToLower(out), "</body>"); i >= 0 {
		out = out[:i] + pixel + out[i:]
	} else {
		out += pixel
	}
	rw.out.HTML = out
	return rw.out, nil
}

type rewriter struct {
	s              *Signer
	base, campaign string
	out            Rewritten
}

// rewrite rewrites src, whose first line is line of the whole mail.
func (rw *rewriter) rewrite(src string, line int) (string, error) {
	var b strings.Builder
	b.Grow(len(src) + len(src)/4)
	z := html.NewTokenizer(strings.NewReader(src))
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			if errors.Is(z.Err(), io.EOF) {
				return b.String(), nil
			}
			return "", fmt.Errorf("read the HTML: %w", z.Err())
		}
		// TagName and TagAttr lower-case the buffer in place: Raw first.
		raw := string(z.Raw())
		switch tt {
		case html.StartTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			if !hasAttr || !tracked(string(name)) {
				b.WriteString(raw)
				break
			}
			var href string
			found := false
			for more := true; more; {
				var k, v []byte
				k, v, more = z.TagAttr()
				if string(k) == "href" {
					href, found = string(v), true
					break
				}
			}
			if !found {
				b.WriteString(raw)
				break
			}
			b.WriteString(rw.tag(raw, href, line))
		case html.CommentToken:
			// <!--[if mso]> ... <![endif]-->: HTML only Outlook reads.
			inner, ok := strings.CutPrefix(raw, "<!--")
			inner, ok2 := strings.CutSuffix(inner, "-->")
			open := strings.Index(inner, "]>")
			end := strings.LastIndex(inner, "<![endif]")
			if !ok || !ok2 || !strings.HasPrefix(strings.TrimSpace(inner), "[if") || open < 0 || end < open+2 {
				b.WriteString(raw)
				break
			}
			body, err := rw.rewrite(inner[open+2:end], line+strings.Count(raw[:4+open+2], "\n"))
			if err != nil {
				return "", err
			}
			b.WriteString("<!--" + inner[:open+2] + body + inner[end:] + "-->")
		default:
			b.WriteString(raw)
		}
		line += strings.Count(raw, "\n")
	}
}

// tag returns the start tag raw with its href, whose decoded value is
// href, replaced by a signed click link, or raw as it is, noting why.
func (rw *rewriter) tag(raw, href string, line int) string {
	skip := func(reason string) string {
		rw.out.Untracked = append(rw.out.Untracked, Untracked{Line: line, Href: href, Reason: reason})
		return raw
	}
	// What a browser does to an href before it parses it: leading and
	// trailing spaces and every tab and newline go.
	target := strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' {
			return -1
		}
		return r
	}, strings.Trim(href, " \t\n\r\f"))
	switch {
	case target == "":
		return skip(ReasonEmpty)
	case target[0] == '#':
		return skip(ReasonAnchor)
	case MergeField(target):
		return skip(ReasonMergeField)
	}
	// The fragment is the browser's: it stays byte for byte, after the
	// query (url.URL would re-escape it: #a#b would become #a%23b).
	beforeFrag, frag, hasFrag := strings.Cut(target, "#")
	u, err := url.Parse(beforeFrag)
	switch {
	case err != nil:
		return skip(fmt.Sprintf(ReasonMalformed, err))
	case u.Scheme == "":
		return skip(ReasonRelative)
	case u.Scheme != "http" && u.Scheme != "https":
		return skip(fmt.Sprintf(ReasonNotWeb, u.Scheme))
	case u.Host == "":
		return skip(ReasonRelative)
	case strings.HasPrefix(target, rw.base+"/c/") || strings.HasPrefix(target, rw.base+"/u/"):
		return skip(ReasonAlready)
	}
	tagged, retagged, ok := addTags(u, rw.campaign)
	if !ok {
		return skip(ReasonTaggingFail)
	}
	if hasFrag {
		tagged += "#" + frag
	}
	start, end, ok := hrefSpan(raw)
	if !ok { // the tokenizer found an href the lexer below did not: leave it
		return skip(ReasonUnreadTag)
	}
	id := LinkID(rw.campaign, tagged)
	rw.out.Links = append(rw.out.Links, Link{ID: id, Line: line, Target: tagged})
	for _, r := range retagged {
		r.Line, r.Href = line, href
		rw.out.Retagged = append(rw.out.Retagged, r)
	}
	click := rw.base + "/c/" + TokenPlaceholder + "/" + id + "?u=" + url.QueryEscape(tagged) + "&s=" + rw.s.ClickSig(id, tagged)
	return raw[:start] + `"` + escapeAttr(click) + `"` + raw[end:]
}

// campaignTag is a tag every tracked link carries: the campaign's id names
// the visits it brings, coming from the newsletter by e-mail.
type campaignTag struct {
	name, value string
	field       event.Field
}

func campaignTags(campaign string) []campaignTag {
	return []campaignTag{{"utm_source", "newsletter", event.UTMSource}, {"utm_medium", "email", event.UTMMedium}, {"utm_campaign", campaign, event.UTMCampaign}}
}

// addTags gives u the campaign's tags after its own query, which stays byte
// for byte (order and spelling of parameters are the site's business)
// except for the parameters that would name the visit's source, medium or
// campaign otherwise: every spelling the processor reads as one of them
// (event.LandingParam: utm_campaign, UTM_Campaign, Matomo's mtm_campaign,
// pk_campaign, pk_cpn...; the first one read wins there) is taken out, and
// returned when its value was not the campaign's. A tag already written as
// the campaign's, once, stays where it is. u has no fragment, which the
// caller puts back.
func addTags(u *url.URL, campaign string) (string, []Retagged, bool) {
	if _, err := url.ParseQuery(u.RawQuery); err != nil {
		return "", nil, false
	}
	tags := campaignTags(campaign)
	ours := func(name string) *campaignTag {
		if lp := event.LandingParam(name); lp != nil && lp.Kind == event.ParamTag {
			for i := range tags {
				if tags[i].field == lp.Field {
					return &tags[i]
				}
			}
		}
		return nil
	}
	type param struct {
		raw, name, value string
		tag              *campaignTag // the campaign's tag it would override, or nil
	}
	var params []param
	count := map[*campaignTag]int{}
	if u.RawQuery != "" {
		for _, raw := range strings.Split(u.RawQuery, "&") {
			k, v, _ := strings.Cut(raw, "=")
			name, err1 := url.QueryUnescape(k)
			value, err2 := url.QueryUnescape(v)
			if err1 != nil || err2 != nil {
				return "", nil, false
			}
			p := param{raw: raw, name: name, value: value, tag: ours(name)}
			if p.tag != nil {
				count[p.tag]++
			}
			params = append(params, p)
		}
	}
	var kept []string
	var retagged []Retagged
	have := map[*campaignTag]bool{}
	for _, p := range params {
		switch {
		case p.tag == nil:
			kept = append(kept, p.raw)
		case count[p.tag] == 1 && p.name == p.tag.name && p.value == p.tag.value:
			kept, have[p.tag] = append(kept, p.raw), true
		case p.name != p.tag.name || p.value != p.tag.value:
			retagged = append(retagged, Retagged{Tag: p.name, Old: p.value, New: p.tag.value})
		}
	}
	extra := url.Values{}
	for i := range tags {
		if !have[&tags[i]] {
			extra.Set(tags[i].name, tags[i].value)
		}
	}
	if add := extra.Encode(); add != "" {
		if n := len(kept); n > 0 && kept[n-1] == "" { // a query ending in &
			kept = kept[:n-1]
		}
		kept = append(kept, add)
	}
	u.RawQuery = strings.Join(kept, "&")
	u.ForceQuery = false
	u.RawQuery = escapeQuery(u.RawQuery)
	return u.String(), retagged, true
}

// escapeQuery percent-encodes what a browser encodes in a query before
// sending it (spaces, quotes, angle brackets, controls, non-ASCII bytes),
// leaving the rest, escapes included, as written.
func escapeQuery(q string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(q); i++ {
		c := q[i]
		if c <= ' ' || c >= 0x7f || c == '"' || c == '<' || c == '>' || c == '`' {
			if b.Len() == 0 {
				b.WriteString(q[:i])
			}
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(c)
		}
	}
	if b.Len() == 0 {
		return q
	}
	return b.String()
}

// hrefSpan finds the value of the first href attribute of a start tag,
// quotes included, lexing attributes as HTML does (so an "href=" inside
// another attribute's value is not taken for it).
func hrefSpan(tag string) (start, end int, ok bool) {
	i := 1
	for i < len(tag) && !isSpace(tag[i]) && tag[i] != '/' && tag[i] != '>' {
		i++ // the tag name
	}
	for i < len(tag) {
		for i < len(tag) && (isSpace(tag[i]) || tag[i] == '/') {
			i++
		}
		if i >= len(tag) || tag[i] == '>' {
			return 0, 0, false
		}
		n := i
		i++ // a name may begin with "="
		for i < len(tag) && !isSpace(tag[i]) && tag[i] != '/' && tag[i] != '>' && tag[i] != '=' {
			i++
		}
		name := strings.ToLower(tag[n:i])
		j := i
		for j < len(tag) && isSpace(tag[j]) {
			j++
		}
		if j >= len(tag) || tag[j] != '=' {
			continue // no value
		}
		j++
		for j < len(tag) && isSpace(tag[j]) {
			j++
		}
		vs := j
		switch {
		case j < len(tag) && (tag[j] == '"' || tag[j] == '\''):
			k := strings.IndexByte(tag[j+1:], tag[j])
			if k < 0 {
				return 0, 0, false
			}
			j += k + 2
		default:
			for j < len(tag) && !isSpace(tag[j]) && tag[j] != '>' {
				j++
			}
		}
		if name == "href" {
			return vs, j, true
		}
		i = j
	}
	return 0, 0, false
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' }

func escapeAttr(s string) string {
	return strings.NewReplacer("&", "&amp;", `"`, "&quot;", "'", "&#39;", "<", "&lt;", ">", "&gt;").Replace(s)
}
