package event

import "strings"

// NormalizeUser is the form a user id is stored and looked up in: trimmed,
// and lower-cased when it is an e-mail address, so that "Ann@Shop.example "
// at sign-up and "ann@shop.example" at checkout are one person. Account ids
// keep their case: a shop's ids may tell cases apart.
func NormalizeUser(u string) string {
	u = strings.TrimSpace(u)
	if strings.IndexByte(u, '@') < 0 {
		return u
	}
	for i := 0; i < len(u); i++ {
		if c := u[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(u)
		}
	}
	return u
}

// UserVisitorPrefix starts the visitor id the processor gives an event that
// has a user id but no visitor id (a server-side order of a known customer),
// so that the event still joins its person's profile.
const UserVisitorPrefix = "u:"
