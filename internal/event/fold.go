package event

import (
	"strings"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// FoldText is s in Unicode compatibility form (NFKC: full-width ａ and ＠
// are a and @, a decomposed é is é), case-folded (É and é, ß and ss are
// one), with the ideographic full stops that IDNA reads as dots made
// dots, in NFC. It is the one form in which the erasure compares
// spellings of an identifier: the kept messages it searches
// (internal/profiles) and the user ids of its tombstones (FoldUser).
func FoldText(s string) string {
	s = norm.NFKC.String(s)
	s = cases.Fold().String(s)
	s = idDots.Replace(s)
	return norm.NFC.String(s)
}

var idDots = strings.NewReplacer("\u3002", ".", "\uff61", ".", "\uff0e", ".")

// FoldUser is the form in which the erasure hashes a user id in its
// tombstones and the processor checks one against them: an e-mail
// address however spelt (full-width letters or ＠, decomposed accents,
// any case, its domain in punycode or Unicode, a trailing dot) is one
// key: FoldText of the address in NormalizeUser's form. An account id
// (no @) keeps its case, as NormalizeUser keeps it, in NFKC. An ASCII
// address without capitals comes back as NormalizeUser gives it, without
// allocating.
func FoldUser(u string) string {
	ascii := true
	for i := 0; i < len(u); i++ {
		if u[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if !ascii {
		u = idDots.Replace(norm.NFKC.String(u))
	}
	at := strings.LastIndexByte(u, '@')
	if at < 0 {
		return strings.TrimSpace(u)
	}
	u = NormalizeUser(u)
	if ascii && !strings.Contains(u, "xn--") {
		return u
	}
	at = strings.LastIndexByte(u, '@')
	return FoldText(u[:at]) + "@" + u[at+1:]
}
