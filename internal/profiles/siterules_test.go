package profiles_test

import (
	"testing"

	"footfall/internal/profiles"
	"footfall/internal/sites"
)

// TestSiteRules: a store classifies each site the registry holds by the
// site's rules, in the site's currency, and any other by its own.
func TestSiteRules(t *testing.T) {
	reg := sites.NewStatic(sites.Site{ID: "tokyo", TimeZone: "Asia/Tokyo", Currency: "JPY", LoyalOrders: 4, LoyalRevenue: 80000, InactiveDays: 30})
	st := profiles.NewStore(nil, profiles.DefaultRules)
	st.SetSiteRules(profiles.SiteRules(reg))
	if got := st.RulesOf("tokyo"); got.LoyalOrders != 4 || got.LoyalRevenue != 80000 || got.InactiveDays != 30 || got.Currency != "JPY" {
		t.Errorf("tokyo: %+v", got)
	}
	if got := st.Query("tokyo").Rules; got.Currency != "JPY" || got.LoyalOrders != 4 {
		t.Errorf("tokyo's query: %+v", got)
	}
	if got := st.RulesOf("elsewhere"); got.LoyalOrders != 3 || got.LoyalRevenue != 500 || got.InactiveDays != 90 || got.Currency != "" {
		t.Errorf("a site the registry does not hold: %+v", got)
	}
}
