package event

import (
	"bytes"
	"errors"
)

// How an event that changes a person (a consent, a subscription or its
// withdrawal, a user id that joins a visitor to a person) was proven. The
// processor stores it with every event (events.proof); the consent ledger
// and the identity map keep it, and only a proven word or link counts:
//
//   - ProofServer: the shop's backend sent it through the server API with
//     its site key, or the operator imported it through the dashboards'
//     API with the API token.
//   - ProofLink: a signed newsletter link or the recipient token of the
//     person's own mail (an unsubscribe link, a click that landed on the
//     site): only the mail's recipient has it.
//   - ProofConfirmed: the person confirmed it (double opt-in), as the
//     shop's backend attests with a "confirm" event through the server API.
//   - ProofClaim: what a browser says (the snippet, the pixel). Anyone can
//     send anything there, so it is kept as a claim: recorded, shown as
//     such, and never a person's consent nor a join to their profile.
const (
	ProofServer    = "server"
	ProofLink      = "link"
	ProofConfirmed = "confirmed"
	ProofClaim     = "claim"
)

// TypeConfirm is the event a shop's backend sends when a person confirmed
// a subscription (double opt-in): through the server API it records the
// lists it names as consented, proven "confirmed".
const TypeConfirm = "confirm"

// ProofOf is the proof an event carries by the door it came in: the
// server API proves, a newsletter event proves by its token, a browser
// claims. The processor raises a browser's landing from a newsletter link
// to ProofLink once the link's token names the recipient.
func ProofOf(in Ingest, typ []byte) string {
	switch in {
	case IngestAPI:
		if string(typ) == TypeConfirm {
			return ProofConfirmed
		}
		return ProofServer
	case IngestEmail:
		return ProofLink
	}
	return ProofClaim
}

// ErrReservedVisitor refuses a browser's visitor id in the server's
// namespace: "u:" + a user id is the visitor id of a person known to the
// shop's backend, and a browser using it would write into their profile.
var ErrReservedVisitor = errors.New("visitor_id: the prefix " + UserVisitorPrefix + " names a person known to the server; a browser may not use it")

// checkVisitor refuses a browser's visitor id in the server's namespace.
func (e *Event) checkVisitor() error {
	if e.Ingest != IngestAPI && e.Ingest != IngestEmail && bytes.HasPrefix(e.F[VisitorID], []byte(UserVisitorPrefix)) {
		return ErrReservedVisitor
	}
	return nil
}

// ConsentType says whether events of type typ write the consent ledger.
func ConsentType(typ []byte) bool {
	switch string(typ) {
	case "consent", "subscribe", "unsubscribe", TypeConfirm:
		return true
	}
	return false
}
