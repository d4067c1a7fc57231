package erasure_test

import (
	"context"
	"strings"
	"testing"

	"footfall/internal/erasure"
	"footfall/tests/stacktest"
)

func TestHasher(t *testing.T) {
	h := erasure.NewHasher([]byte("a secret of sixteen bytes"))
	a := h.Sum("shop", erasure.User, "ann@x.example")
	if a != h.Sum("shop", erasure.User, "ann@x.example") {
		t.Error("one identifier, two tombstones")
	}
	for what, other := range map[string]erasure.Key{
		"another site":  h.Sum("other", erasure.User, "ann@x.example"),
		"another kind":  h.Sum("shop", erasure.Visitor, "ann@x.example"),
		"another value": h.Sum("shop", erasure.User, "bob@x.example"),
		"another key":   erasure.NewHasher([]byte("another secret of 16")).Sum("shop", erasure.User, "ann@x.example"),
		// A value that runs into the site must not pass for it.
		"site and value shifted": h.Sum("shopann@x.example", erasure.User, ""),
	} {
		if other == a {
			t.Errorf("%s gives the same tombstone", what)
		}
	}
	if h.Sum("shop", erasure.Token, "tok") != h.Sum("other", erasure.Token, "tok") {
		t.Error("a token's tombstone depends on the site: tokens are global, and opens carry no site")
	}
	if h.Check() == erasure.NewHasher([]byte("another secret of 16")).Check() || len(h.Check()) != 16 {
		t.Errorf("key checks %q", h.Check())
	}
	if allocs := testing.AllocsPerRun(100, func() { h.Sum("shop", erasure.Visitor, "v-123") }); allocs != 0 {
		t.Errorf("Sum allocates %v times", allocs)
	}
}

// TestFilter: tombstones written by an erasure are what a processor's
// filter drops, and only those; a program with another secret sees them
// as unreadable, not as nobody's; without a secret every program shares
// the database's own key.
func TestFilter(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	ctx := context.Background()
	db := store.DB()
	secret, err := erasure.Secret(ctx, db, "")
	if err != nil {
		t.Fatal(err)
	}
	again, err := erasure.Secret(ctx, db, "")
	if err != nil || string(again) != string(secret) || len(secret) != 64 {
		t.Fatalf("the database's key: %q then %q (%v)", secret, again, err)
	}
	if _, err := erasure.Secret(ctx, db, "short"); err == nil {
		t.Error("a secret of 5 bytes taken")
	}

	f := erasure.NewFilter(db, "")
	if err := f.Sync(ctx, true); err != nil {
		t.Fatal(err)
	}
	if !f.Empty() || f.Erased("shop", erasure.Visitor, "v1") {
		t.Fatal("no erasure yet, yet something is erased")
	}
	// Checked clean, then erased: the cache of clean values must go.
	if f.Erased("shop", erasure.User, "ann@x.example") {
		t.Fatal("erased before the erasure")
	}
	err = erasure.Write(ctx, db, erasure.NewHasher(secret), "shop", map[erasure.Kind][]string{
		erasure.Visitor: {"v1", "u:ann@x.example"}, erasure.User: {"ann@x.example"}, erasure.Token: {"tok-ann"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(ctx, false); err != nil {
		t.Fatal(err)
	}
	if f.Erased("shop", erasure.User, "ann@x.example") {
		t.Fatal("a sync within erasure.SyncEvery asked the database")
	}
	if err := f.Sync(ctx, true); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		site  string
		kind  erasure.Kind
		value string
		want  bool
	}{
		{"shop", erasure.Visitor, "v1", true},
		{"shop", erasure.Visitor, "u:ann@x.example", true},
		{"shop", erasure.User, "ann@x.example", true},
		{"", erasure.Token, "tok-ann", true},
		{"shop", erasure.Token, "tok-ann", true},
		{"shop", erasure.Visitor, "v2", false},
		{"other", erasure.Visitor, "v1", false}, // erased on shop only
		{"shop", erasure.User, "v1", false},
		{"shop", erasure.Visitor, "", false},
	} {
		if got := f.Erased(c.site, c.kind, c.value); got != c.want {
			t.Errorf("Erased(%q, %c, %q) = %v", c.site, c.kind, c.value, got)
		}
	}
	if held, ignored := f.Tombstones(); held != 4 || ignored != 0 {
		t.Errorf("tombstones %d held, %d ignored", held, ignored)
	}

	// Given a secret later, a program still reads what the database's own
	// key wrote before.
	withSecret := erasure.NewFilter(db, strings.Repeat("x", 16))
	if err := withSecret.Sync(ctx, true); err != nil {
		t.Fatal(err)
	}
	if held, ignored := withSecret.Tombstones(); held != 4 || ignored != 0 || !withSecret.Erased("shop", erasure.Visitor, "v1") {
		t.Errorf("with a secret: %d held, %d ignored", held, ignored)
	}
	// What another secret wrote cannot be read: said, and not taken for
	// nobody's.
	err = erasure.Write(ctx, db, erasure.NewHasher([]byte(strings.Repeat("y", 16))), "shop", map[erasure.Kind][]string{erasure.Visitor: {"v9"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := withSecret.Sync(ctx, true); err != nil {
		t.Fatal(err)
	}
	if held, ignored := withSecret.Tombstones(); held != 4 || ignored != 1 || withSecret.Erased("shop", erasure.Visitor, "v9") {
		t.Errorf("another secret's: %d held, %d ignored", held, ignored)
	}
}

// BenchmarkFilterClean is what the processor pays per identifier of an
// event once a site has erasures: a visitor seen a moment ago costs a
// hash of its id and a map lookup, not an HMAC.
func BenchmarkFilterClean(b *testing.B) {
	_, store := stacktest.ClickHouse(b)
	ctx := context.Background()
	secret, _ := erasure.Secret(ctx, store.DB(), "")
	if err := erasure.Write(ctx, store.DB(), erasure.NewHasher(secret), "shop", map[erasure.Kind][]string{erasure.Visitor: {"gone"}}); err != nil {
		b.Fatal(err)
	}
	f := erasure.NewFilter(store.DB(), "")
	if err := f.Sync(ctx, true); err != nil {
		b.Fatal(err)
	}
	ids := make([]string, 3000)
	for i := range ids {
		ids[i] = "018f3a2b-7c4d-7e5f-8a9b-" + strings.Repeat("0", 8) + string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if f.Erased("shop", erasure.Visitor, ids[i%len(ids)]) {
			b.Fatal("erased")
		}
	}
}
