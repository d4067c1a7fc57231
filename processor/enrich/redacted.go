package enrich

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"footfall/internal/event"
	"footfall/internal/redact"
)

var (
	redactedVec = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "processor_email_addresses_redacted_total",
		Help: "E-mail addresses replaced with [email] in events' URLs, referrers, free-text fields and properties before they are stored (internal/redact), by field: an address is kept only where it names a person (user_id), where an erasure finds it.",
	}, []string{"field"})
	redactedURL      = redactedVec.WithLabelValues("url")
	redactedReferrer = redactedVec.WithLabelValues("referrer")
	redactedProps    = redactedVec.WithLabelValues("props")
	redactedText     = redactedVec.WithLabelValues("text")
)

// redactEmails replaces the addresses of e's URL, referrer, free text and
// properties (redact.Event), and counts them.
func redactEmails(e *event.Event) {
	c := redact.Event(e)
	if c.Total() == 0 {
		return
	}
	redactedURL.Add(float64(c.URL))
	redactedReferrer.Add(float64(c.Referrer))
	redactedProps.Add(float64(c.Props))
	redactedText.Add(float64(c.Text))
}
