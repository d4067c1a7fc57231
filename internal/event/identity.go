package event

import (
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"footfall/internal/urlform"
)

// NormalizeUser is the form a user id is stored and looked up in: trimmed,
// and, when it is an e-mail address, in one spelling, so that
// "Ann@Shop.example " at sign-up and "ann@shop.example" at checkout are one
// person. The part before the last @ is lower-cased in Unicode
// normalisation form C; the domain after it takes the form
// internal/urlform gives every host (urlform.Host: lower case, NFC, an
// internationalised name in Unicode, the trailing dot of a fully qualified
// name dropped), so joe@CAFÉ.example, joe@xn--caf-dma.example and
// joe@café.example. are all joe@café.example. Account ids (no @) keep
// their case: a shop's ids may tell cases apart. An address already in
// this form comes back as it is, without allocating.
func NormalizeUser(u string) string {
	u = strings.TrimSpace(u)
	at := strings.LastIndexByte(u, '@')
	if at < 0 {
		return u
	}
	local, domain := u[:at], u[at+1:]
	l, d := lowerNFC(local), urlform.Host(domain)
	if l == local && d == domain {
		return u
	}
	return l + "@" + d
}

// lowerNFC is s lower-cased in normalisation form C; s itself when it is
// ASCII without capitals.
func lowerNFC(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= utf8.RuneSelf || c >= 'A' && c <= 'Z' {
			return norm.NFC.String(strings.ToLower(norm.NFC.String(s)))
		}
	}
	return s
}

// UserVisitorPrefix starts the visitor id the processor gives an event that
// has a user id but no visitor id (a server-side order of a known customer),
// so that the event still joins its person's profile.
const UserVisitorPrefix = "u:"
