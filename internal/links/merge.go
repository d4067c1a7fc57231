package links

import "strings"

// MergeField says whether href holds a merge field of a mail tool: a
// placeholder the tool fills in per recipient when it sends, after the
// link was signed, so a signature over it would never check (and the
// collector would refuse the click). The kinds, by their delimiters:
//
//   - braces, never raw in a real URL: {{...}} and {{{...}}} (Handlebars,
//     Liquid, HubSpot {{ unsubscribe_link }}, Brevo {{ contact.EMAIL }},
//     listmonk {{ UnsubscribeURL }} and {{ TrackLink "..." }}, SendGrid
//     {{{unsubscribe}}}, ours {{ff_token}}), {% ... %} (Jinja, Klaviyo
//     {% unsubscribe %}), {...} (Mautic {contactfield=email}, MailerLite and
//     Mailjet {$unsubscribe});
//   - *|...|* (Mailchimp *|EMAIL|*, *|UNSUB|*), %%...%% (Salesforce,
//     SendGrid %%unsubscribe%%), [[...]] (Mailjet [[UNSUB_LINK_EN]],
//     GetResponse), <%...%> (SendGrid, ERB);
//   - [name] where a value starts (Campaign Monitor and Sendy [email],
//     [unsubscribe], SendGrid [%email%], Zoho $[LI:EMAIL]$), not after a
//     name as in a PHP array parameter (?filter[size]=M) nor as an IPv6 host;
//   - %NAME% whose percent signs are not both escapes (ActiveCampaign
//     %EMAIL%, %UNSUBSCRIBELINK%; SendGrid %email%): %C3%A9 is "é";
//   - -name- as the whole href or a whole query value (SendGrid's
//     substitution tags, -email-).
//
// The href is also read with its %XX escapes decoded, for editors that
// escape a merge field inside a link (Mailchimp's *%7CEMAIL%7C*).
func MergeField(href string) bool {
	if hasMergeField(href) {
		return true
	}
	d := unescapeValid(href)
	if d == href {
		return false
	}
	for _, m := range escapedMarks {
		if strings.Contains(d, m) {
			return true
		}
	}
	return false
}

// mergeMarks open or close merge fields and never occur in a real link.
var mergeMarks = []string{"*|", "|*", "%%", "[[", "]]", "<%", "%>"}

// escapedMarks are the marks looked for once escapes are decoded: only
// pairs, since a decoded %7B...%7D is as likely JSON in a query as a field.
var escapedMarks = []string{"{{", "{%", "{$", "*|", "|*", "[[", "<%"}

func hasMergeField(s string) bool {
	if i := strings.IndexByte(s, '{'); i >= 0 && strings.IndexByte(s[i:], '}') > 0 {
		return true
	}
	for _, m := range mergeMarks {
		if strings.Contains(s, m) {
			return true
		}
	}
	return bracketField(s) || percentField(s) || dashField(s)
}

// bracketField finds [name] where a value starts: at the start of s or
// after a character that is not part of a name (=, /, $, ...); the name
// holds a letter and no URL delimiter. An IPv6 host ([::1]) is no field.
func bracketField(s string) bool {
	hostEnd := -1
	if i := strings.Index(s, "://"); i >= 0 {
		hostEnd = i + 3 + strings.IndexAny(s[i+3:]+"/", "/?#")
	}
	for i := 0; i < len(s); i++ {
		if s[i] != '[' || i < hostEnd || i > 0 && (isNameByte(s[i-1]) || s[i-1] == ']') {
			continue
		}
		j := strings.IndexByte(s[i+1:], ']')
		if j <= 0 {
			continue
		}
		name := s[i+1 : i+1+j]
		if !strings.ContainsAny(name, "[/?&#") && strings.IndexFunc(name, isLetter) >= 0 {
			return true
		}
	}
	return false
}

// percentField finds %NAME% (a letter or _ first, then letters, digits
// and _) where one of the two percent signs is no %XX escape.
func percentField(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != '%' || i+1 >= len(s) || !(isLetter(rune(s[i+1])) || s[i+1] == '_') {
			continue
		}
		j := i + 1
		for j < len(s) && isNameByte(s[j]) {
			j++
		}
		if j < len(s) && s[j] == '%' && (!escapeAt(s, i) || !escapeAt(s, j)) {
			return true
		}
	}
	return false
}

// dashField finds a SendGrid substitution tag, -name-, as the whole href
// or a whole query value; inside paths, hyphens are words' (red-shoes-).
func dashField(s string) bool {
	if dashName(s) {
		return true
	}
	_, q, _ := strings.Cut(s, "?")
	q, _, _ = strings.Cut(q, "#")
	for _, kv := range strings.Split(q, "&") {
		if _, v, ok := strings.Cut(kv, "="); ok && dashName(v) {
			return true
		}
	}
	return false
}

func dashName(s string) bool {
	if len(s) < 3 || s[0] != '-' || s[len(s)-1] != '-' || !isLetter(rune(s[1])) {
		return false
	}
	for i := 1; i < len(s)-1; i++ {
		if !isNameByte(s[i]) {
			return false
		}
	}
	return true
}

// unescapeValid decodes each %XX escape of s and leaves any other % as it is.
func unescapeValid(s string) string {
	if strings.IndexByte(s, '%') < 0 {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && escapeAt(s, i) {
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// escapeAt says whether s[i], a %, starts a %XX escape.
func escapeAt(s string, i int) bool {
	return i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2])
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

func isLetter(r rune) bool { return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' }

func isNameByte(c byte) bool { return isLetter(rune(c)) || c >= '0' && c <= '9' || c == '_' }
