package profiles

import "footfall/internal/sites"

// SiteRules gives each site of the registry its own lifecycle rules, for
// Store.SetSiteRules: a change made in the dashboards reaches every
// program at the registry's next reload.
func SiteRules(reg *sites.Registry) func(site string) (Rules, bool) {
	return func(site string) (Rules, bool) {
		s, ok := reg.Get(site)
		if !ok {
			return Rules{}, false
		}
		return Rules{LoyalOrders: s.LoyalOrders, LoyalRevenue: s.LoyalRevenue, InactiveDays: s.InactiveDays, Currency: s.Currency, Zone: reg.Location(site)}, true
	}
}
