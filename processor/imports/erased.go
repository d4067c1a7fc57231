package imports

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"footfall/internal/campaigns"
	"footfall/internal/erasure"
	"footfall/internal/event"
)

// ReasonErased is why an import leaves out a recipient who was erased.
const ReasonErased = "erased at the person's request: not imported again"

var erasedRecipients = promauto.NewCounter(prometheus.CounterOpts{
	Name: "imports_recipients_erased_total",
	Help: "Recipients of imports left out because the person was erased.",
})

// SetErasureSecret sets the key of the tombstones an import checks: the
// processor's and the erasure's -erasure-secret.
func (im *Importer) SetErasureSecret(secret string) { im.erasureSecret = secret }

// erasedFilter loads the tombstones of erased people.
func (im *Importer) erasedFilter(ctx context.Context) (*erasure.Filter, error) {
	f := erasure.NewFilter(im.events.DB(), im.erasureSecret)
	return f, f.Sync(ctx, true)
}

// erased says whether recipient r (its address normalised) of site is an
// erased person: by address or by the shop's id of them.
func erased(f *erasure.Filter, site, email string, r campaigns.Recipient) bool {
	if f.Erased(site, erasure.User, email) || f.Erased(site, erasure.User, r.ExternalID) ||
		f.Erased(site, erasure.User, event.NormalizeUser(r.ExternalID)) {
		erasedRecipients.Inc()
		return true
	}
	return false
}
