package stacktest

import (
	"context"
	"testing"
	"time"

	"footfall/internal/sites"
	"footfall/processor/chstore"
)

// Site creates site id in store's database (UTC, EUR, the default
// lifecycle rules, any domain) with one server API key, which it returns.
// change, when given, alters the settings before they are written. The
// collector refuses hits for a site it does not know: a test that sends
// hits creates its sites first.
func Site(t testing.TB, store *chstore.Store, id string, change ...func(*sites.Site)) (key string) {
	t.Helper()
	s := sites.Site{ID: id, Name: id, TimeZone: "UTC", Currency: "EUR", LoyalOrders: 3, LoyalRevenue: 500, InactiveDays: 90}
	for _, c := range change {
		c(&s)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st := sites.NewStore(store.DB())
	if _, err := st.Create(ctx, s); err != nil {
		t.Fatalf("create site %s: %v", id, err)
	}
	key, _, err := st.AddKey(ctx, id, "test")
	if err != nil {
		t.Fatalf("key of site %s: %v", id, err)
	}
	return key
}
