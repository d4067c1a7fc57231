package sites_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"footfall/internal/chsql"
	"footfall/internal/sites"
	"footfall/tests/stacktest"
)

func TestValidate(t *testing.T) {
	ok := sites.Site{ID: "shop", TimeZone: "Asia/Kolkata", Currency: "jpy", InactiveDays: 90, Domains: []string{"Shop.Example.", "café.example"}}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	if ok.Currency != "JPY" || ok.Domains[0] != "shop.example" || ok.Domains[1] != "xn--caf-dma.example" {
		t.Errorf("normalised to %q %q", ok.Currency, ok.Domains)
	}
	for _, c := range []struct {
		change func(*sites.Site)
		want   string
	}{
		{func(s *sites.Site) { s.ID = "a b" }, "id"},
		{func(s *sites.Site) { s.TimeZone = "Europe/Pariss" }, "time_zone"},
		{func(s *sites.Site) { s.TimeZone = "Local" }, "time_zone"},
		{func(s *sites.Site) { s.TimeZone = "" }, "time_zone"},
		{func(s *sites.Site) { s.Currency = "EURO" }, "currency"},
		{func(s *sites.Site) { s.Currency = "ABC" }, "currency"},
		{func(s *sites.Site) { s.Currency = "XXX" }, "currency"},
		{func(s *sites.Site) { s.Domains = []string{"https://shop.example/"} }, "domain"},
		{func(s *sites.Site) { s.Domains = []string{"shop.example:443"} }, "domain"},
		{func(s *sites.Site) { s.InactiveDays = 0 }, "inactive_days"},
		{func(s *sites.Site) { s.LoyalOrders = -1 }, "loyal_orders"},
		{func(s *sites.Site) { s.AffiliateRate = 1.5 }, "affiliate_rate"},
		{func(s *sites.Site) { s.AffiliateRates = map[string]float64{"blog": -0.1} }, "affiliate_rates"},
		{func(s *sites.Site) { s.RetentionDays = -1 }, "retention_days"},
	} {
		s := sites.Site{ID: "shop", TimeZone: "UTC", Currency: "EUR", InactiveDays: 90}
		c.change(&s)
		if err := s.Validate(); err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want one about %s", s, err, c.want)
		}
	}
}

func TestHostMatching(t *testing.T) {
	r := sites.NewStatic(sites.Site{ID: "shop", TimeZone: "Europe/Paris", Currency: "EUR", Domains: []string{"shop.example"}},
		sites.Site{ID: "open", TimeZone: "UTC", Currency: "EUR"})
	e := r.Lookup([]byte("shop"))
	if e == nil || r.Lookup([]byte("nope")) != nil {
		t.Fatal("lookup")
	}
	for host, want := range map[string]bool{
		"shop.example": true, "www.shop.example": true, "SHOP.example:8443": true, "shop.example.": true,
		"evilshop.example": false, "shop.example.evil": false, "example": false, "": false,
	} {
		if got := e.AllowsHost([]byte(host)); got != want {
			t.Errorf("AllowsHost(%q) = %v", host, got)
		}
	}
	if !r.Lookup([]byte("open")).AllowsHost([]byte("anything.example")) {
		t.Error("a site without domains allows any host")
	}
	for u, want := range map[string]string{
		"https://www.shop.example/p?q=1": "www.shop.example", "http://u:p@h.example:80#x": "h.example:80",
		"/relative": "", "shop.example/p": "", "https://[::1]:8/": "[::1]:8", "android-app://com.x": "com.x",
	} {
		if got := string(sites.HostOfURL([]byte(u))); got != want {
			t.Errorf("HostOfURL(%q) = %q, want %q", u, got, want)
		}
	}
	if r.Location("shop").String() != "Europe/Paris" || r.Location("nope") != time.UTC {
		t.Error("Location")
	}
	allocs := testing.AllocsPerRun(100, func() {
		e := r.Lookup([]byte("shop"))
		_ = e.AllowsHost(sites.HostOfURL([]byte("https://www.shop.example/p")))
		_, _ = r.SiteOfKey([]byte("ffk_nothing"))
		_, _ = r.AnyListsHost([]byte("www.shop.example"))
	})
	if allocs != 0 {
		t.Errorf("%v allocations per hit's lookups", allocs)
	}
}

// TestStoreAndReload: a site written by one store is seen by a registry
// reading another connection; a key works, is rotated, and the old one is
// refused after the next reload.
func TestStoreAndReload(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	ctx := context.Background()
	st := sites.NewStore(store.DB())
	reg := sites.NewRegistry(sites.NewStore(stacktest.Reader(t, store)))
	if err := reg.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := reg.Get("shop"); ok {
		t.Fatal("empty registry knows shop")
	}
	created, err := st.Create(ctx, sites.Site{ID: "shop", TimeZone: "Europe/Paris", Currency: "eur", LoyalOrders: 3, LoyalRevenue: 500,
		InactiveDays: 90, Domains: []string{"shop.example"}, AffiliateRates: map[string]float64{"blog": 0.1}})
	if err != nil {
		t.Fatal(err)
	}
	if created.Currency != "EUR" {
		t.Errorf("currency %q", created.Currency)
	}
	if _, err := st.Create(ctx, sites.Site{ID: "shop", TimeZone: "UTC", Currency: "EUR", InactiveDays: 1}); err != sites.ErrExists {
		t.Errorf("second create: %v", err)
	}
	oldKey, k1, err := st.AddKey(ctx, "shop", "backend")
	if err != nil || !strings.HasPrefix(oldKey, "ffk_") || len(oldKey) < 40 || k1.ID == "" {
		t.Fatalf("key %q %+v %v", oldKey, k1, err)
	}
	if err := reg.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	got, ok := reg.Get("shop")
	if !ok || got.TimeZone != "Europe/Paris" || got.AffiliateRates["blog"] != 0.1 || len(got.Keys) != 1 || got.Keys[0].Hash == oldKey {
		t.Fatalf("registry has %+v", got)
	}
	if reg.Location("shop").String() != "Europe/Paris" || !reg.CheckKey("shop", oldKey) || reg.CheckKey("other", oldKey) {
		t.Error("location or key")
	}
	// Nothing stored is the key itself.
	if n := stacktest.Count(t, store, "SELECT count() FROM site_keys WHERE hash = ? OR key_id = ?", oldKey, oldKey); n != 0 {
		t.Error("the key is stored as written")
	}
	newKey, _, err := st.AddKey(ctx, "shop", "backend 2")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.RevokeKey(ctx, "shop", k1.ID); err != nil {
		t.Fatal(err)
	}
	if err := st.RevokeKey(ctx, "shop", k1.ID); err != sites.ErrNoKey {
		t.Errorf("revoke twice: %v", err)
	}
	if _, err := st.Update(ctx, "shop", func(s *sites.Site) error { s.LoyalOrders = 5; s.TimeZone = "Asia/Kolkata"; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Update(ctx, "shop", func(s *sites.Site) error { s.TimeZone = "Mars/Base"; return nil }); err == nil {
		t.Error("an update to an unknown zone was taken")
	}
	if err := reg.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	got, _ = reg.Get("shop")
	if reg.CheckKey("shop", oldKey) || !reg.CheckKey("shop", newKey) || got.LoyalOrders != 5 || got.TimeZone != "Asia/Kolkata" || len(got.Keys) != 1 {
		t.Errorf("after rotation and update: %+v", got)
	}
	if _, err := st.Update(ctx, "nope", func(*sites.Site) error { return nil }); err != sites.ErrNotFound {
		t.Errorf("update of an unknown site: %v", err)
	}
}

// TestConcurrentStores: two programs' stores (no lock in common) change
// one site at once: each revokes keys and changes a setting and an
// affiliate rate of its own. No revoked key comes back and no change is
// lost (whole-row rewrites lost both).
func TestConcurrentStores(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	ctx := context.Background()
	other, err := chsql.Open(ctx, chsql.Config{Addr: cmp.Or(os.Getenv("FOOTFALL_CLICKHOUSE_ADDR"), "127.0.0.1:9000"), Database: store.DB().Database()})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	stores := []*sites.Store{sites.NewStore(store.DB()), sites.NewStore(other)}
	if _, err := stores[0].Create(ctx, sites.Site{ID: "race", TimeZone: "UTC", Currency: "EUR", InactiveDays: 90}); err != nil {
		t.Fatal(err)
	}
	const rounds = 8 // a site has at most 20 keys
	var mu sync.Mutex
	var revoked, kept []string
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := stores[w]
			for r := 1; r <= rounds; r++ {
				_, gone, err1 := st.AddKey(ctx, "race", "gone")
				_, stays, err2 := st.AddKey(ctx, "race", "stays")
				if err := errors.Join(err1, err2, st.RevokeKey(ctx, "race", gone.ID)); err != nil {
					t.Error(err)
					return
				}
				_, err := st.Update(ctx, "race", func(s *sites.Site) error {
					if w == 0 {
						s.LoyalOrders = r
					} else {
						s.RetentionDays = r
					}
					s.AffiliateRates[fmt.Sprintf("w%d-%d", w, r)] = float64(r) / 100
					return nil
				})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				revoked, kept = append(revoked, gone.ID), append(kept, stays.ID)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	all, err := stores[1].Load(ctx)
	if err != nil || len(all) != 1 {
		t.Fatal(all, err)
	}
	got := all[0]
	have := map[string]bool{}
	for _, k := range got.Keys {
		have[k.ID] = true
	}
	for _, id := range revoked {
		if have[id] {
			t.Errorf("revoked key %s is back", id)
		}
	}
	for _, id := range kept {
		if !have[id] {
			t.Errorf("key %s is lost", id)
		}
	}
	if got.LoyalOrders != rounds || got.RetentionDays != rounds || len(got.AffiliateRates) != 2*rounds {
		t.Errorf("loyal_orders %d, retention_days %d, %d affiliate rates: want %d, %d, %d", got.LoyalOrders, got.RetentionDays,
			len(got.AffiliateRates), rounds, rounds, 2*rounds)
	}
}

// TestDomainSpellings: a domain in any spelling is kept as lower-case
// punycode without a trailing dot, full-width and ideographic dots
// included.
func TestDomainSpellings(t *testing.T) {
	for in, want := range map[string]string{
		"café.fr": "xn--caf-dma.fr", "CAFÉ.FR.": "xn--caf-dma.fr", "XN--CAF-DMA.fr": "xn--caf-dma.fr",
		"café.fr。": "xn--caf-dma.fr", "café．fr": "xn--caf-dma.fr", "cafe\u0301.fr": "xn--caf-dma.fr",
	} {
		if got, err := sites.NormalizeDomain(in); err != nil || got != want {
			t.Errorf("NormalizeDomain(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// TestNewIDsRoundTrip: every id a new site may have reads back as itself
// from a hand-written URL, unescaped, in a query string (the pixel's
// ?site=) and in a path (/api/v1/sites/{id}); the ids that would not
// (+, a space, @, :, %, ., .., a leading - or .) are refused. Every one-
// and two-character id of printable ASCII is tried.
func TestNewIDsRoundTrip(t *testing.T) {
	var chars []string
	for c := 0x20; c < 0x7f; c++ {
		chars = append(chars, string(rune(c)))
	}
	ids := slices.Clone(chars)
	for _, a := range chars {
		for _, b := range chars {
			ids = append(ids, a+b)
		}
	}
	ids = append(ids, "a+b", "shop.example", "x..y", "Shop_2-fr", strings.Repeat("a", 64), strings.Repeat("a", 65))
	accepted := 0
	for _, id := range ids {
		if sites.ValidNewID(id) != nil {
			continue
		}
		accepted++
		q, err := url.ParseQuery("site=" + id + "&x=1")
		u, err2 := url.Parse("http://h/api/v1/sites/" + id + "?x=1")
		if err != nil || err2 != nil || q.Get("site") != id || u.Path != "/api/v1/sites/"+id || path.Clean(u.Path) != u.Path {
			t.Errorf("id %q is accepted but reads back as %q in a query, %q in a path", id, q.Get("site"), u.Path)
		}
	}
	if accepted < 64*64 {
		t.Errorf("only %d ids accepted", accepted)
	}
	for _, id := range []string{"a+b", "a b", "a@b", "a:b", "a%2Bb", ".", "..", "-a", ".a", "a/b", "a?b", "a#b", strings.Repeat("a", 65), ""} {
		if err := sites.ValidNewID(id); err == nil || !strings.HasPrefix(err.Error(), "id:") {
			t.Errorf("new id %q: %v, want refused", id, err)
		}
	}
	// The store refuses to create one; a site made before the rule with
	// such an id can still be changed.
	_, store := stacktest.ClickHouse(t)
	ctx := context.Background()
	st := sites.NewStore(store.DB())
	if _, err := st.Create(ctx, sites.Site{ID: "a+b", TimeZone: "UTC", Currency: "EUR", InactiveDays: 90}); err == nil {
		t.Error("created a site a+b")
	}
	b, err := store.DB().Driver().PrepareBatch(ctx, `INSERT INTO site_changes (site_id, time_zone, currency, inactive_days, version)`)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Append("old+id", "UTC", "EUR", uint32(90), uint64(1)); err != nil {
		t.Fatal(err)
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	if s, err := st.Update(ctx, "old+id", func(s *sites.Site) error { s.InactiveDays = 30; return nil }); err != nil || s.InactiveDays != 30 {
		t.Errorf("update of an older site old+id: %+v %v", s, err)
	}
}

// TestDomainsThatCannotBeAShop: a name that cannot be registered (an
// empty label, broken punycode, a label starting with a hyphen, an
// underscore) and a bare public suffix, ICANN's or a private one, are
// refused; a shop's own domain under them, an IP address and a single-
// label intranet name are kept.
func TestDomainsThatCannotBeAShop(t *testing.T) {
	for _, d := range []string{"xn--.fr", "shop..example", ".example", "xn--zz.fr", "xn--a.example", "-shop.example", "a_b.example",
		"com", "COM.", "fr", "co.uk", "github.io", "blogspot.com", "xn--p1ai" /* рф */, "рф"} {
		if got, err := sites.NormalizeDomain(d); err == nil {
			t.Errorf("NormalizeDomain(%q) = %q, want an error", d, got)
		}
	}
	for in, want := range map[string]string{"shop.com": "shop.com", "shop.co.uk": "shop.co.uk", "me.github.io": "me.github.io",
		"магазин.рф": "xn--80aairftm.xn--p1ai", "localhost": "localhost", "192.0.2.1": "192.0.2.1"} {
		if got, err := sites.NormalizeDomain(in); err != nil || got != want {
			t.Errorf("NormalizeDomain(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	s := sites.Site{ID: "shop", TimeZone: "UTC", Currency: "EUR", Domains: []string{"shop.example", "com"}}
	if err := s.Validate(); err == nil || !strings.Contains(err.Error(), "public suffix") {
		t.Errorf("a site with com among its domains: %v", err)
	}
}
