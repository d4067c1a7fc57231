package redact

import "footfall/internal/event"

// Texts are the fields of an event that may carry an address in passing
// and whose addresses Event replaces: every free-text field but the
// connection's (IP, user agent). The fields that name a person (user id,
// visitor and session ids, order id) keep theirs: the erasure finds the
// person by them.
var Texts = []event.Field{event.Name, event.Title, event.UTMSource, event.UTMMedium, event.UTMCampaign,
	event.UTMTerm, event.UTMContent, event.Affiliate, event.ClickID}

// Counts are how many addresses Event replaced, by where.
type Counts struct {
	URL, Referrer, Props, Text int
}

// Total is every address replaced.
func (c Counts) Total() int { return c.URL + c.Referrer + c.Props + c.Text }

// Event replaces the e-mail addresses in e's URL, referrer, free-text
// fields and properties (keys and values) with Placeholder. Fields with
// none are left as they are, without an allocation.
func Event(e *event.Event) Counts {
	var c Counts
	var n int
	e.F[event.URL], c.URL = URL(e.F[event.URL])
	e.F[event.Referrer], c.Referrer = URL(e.F[event.Referrer])
	for _, f := range Texts {
		e.F[f], n = Emails(e.F[f])
		c.Text += n
	}
	for i := range e.Props {
		p := &e.Props[i]
		p.Key, n = Emails(p.Key)
		c.Props += n
		p.Value, n = Emails(p.Value)
		c.Props += n
	}
	return c
}
