package segments_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"footfall/internal/event"
	"footfall/internal/profiles"
	"footfall/internal/segments"
	"footfall/processor/chstore"
	"footfall/processor/enrich"
	"footfall/tests/stacktest"
)

// Seed writes five people on site "shop", and refreshes the people table
// as the processor's refresh job does:
//
//	ann@x  3 orders, 600.00; population pro; /shoes 2 days ago; newsletter yes
//	bob@x  1 order, 20.00; /hats 40 days ago; subscribed, then unsubscribed
//	v3     anonymous, filled a cart
//	cat@x  subscribed; opened the spring mail, no click
//	dan@x  subscribed; opened and clicked the spring mail
func Seed(t *testing.T) (*chstore.Store, *profiles.Store, *segments.Store) {
	_, store := stacktest.ClickHouse(t)
	now := time.Now().UTC().Truncate(time.Second)
	ago := func(days int) time.Time { return now.Add(-time.Duration(days) * 24 * time.Hour) }
	hit := func(at time.Time, visitor, typ string, f map[event.Field]string, revenue int64, props ...string) stacktest.Hit {
		fields := map[event.Field]string{event.Site: "shop", event.Type: typ, event.VisitorID: visitor, event.URL: "https://shop.example/"}
		for k, v := range f {
			fields[k] = v
		}
		h := stacktest.Hit{At: at, Fields: fields, Revenue: revenue, Props: props}
		if event.ConsentType([]byte(typ)) {
			// The shop's backend reports subscriptions: proven, so they
			// join their person and count (a browser's would be claims).
			h.Ingest = event.IngestAPI
		}
		return h
	}
	user := func(u string) map[event.Field]string { return map[event.Field]string{event.UserID: u} }
	order := func(id string) map[event.Field]string { return map[event.Field]string{event.OrderID: id} }
	url := func(u string) map[event.Field]string {
		return map[event.Field]string{event.URL: "https://shop.example" + u}
	}
	spring := map[event.Field]string{event.UTMCampaign: "spring"}
	stacktest.Insert(t, store,
		hit(ago(50), "va", "subscribe", user("ann@x"), 0),
		hit(ago(50), "va", "purchase", order("a1"), 200_000_000),
		hit(ago(20), "va", "purchase", order("a2"), 200_000_000),
		hit(ago(10), "va", "purchase", order("a3"), 200_000_000),
		hit(ago(2), "va", "pageview", url("/shoes/trail"), 0),
		hit(ago(60), "vb", "subscribe", user("bob@x"), 0),
		hit(ago(45), "vb", "purchase", order("b1"), 20_000_000),
		hit(ago(40), "vb", "pageview", url("/hats"), 0),
		hit(ago(30), "vb", "unsubscribe", nil, 0),
		hit(ago(5), "v3", "add_to_cart", nil, 0),
		hit(ago(9), "vc", "subscribe", user("cat@x"), 0),
		hit(ago(3), "vc", "email_open", spring, 0),
		hit(ago(9), "vd", "subscribe", user("dan@x"), 0),
		hit(ago(3), "vd", "email_open", spring, 0),
		hit(ago(3), "vd", "email_click", spring, 0),
	)
	people := profiles.NewStore(store.DB(), profiles.DefaultRules)
	if _, err := people.SetOverride(context.Background(), "shop", "ann@x", nil, []string{"pro"}); err != nil {
		t.Fatal(err)
	}
	refresh(t, people)
	return store, people, segments.NewStore(people)
}

// refresh brings the people table up to date, as the processor's refresh
// job does: segments read it as the last refresh left it.
func refresh(t *testing.T, people *profiles.Store) {
	t.Helper()
	if _, err := people.Refresh(context.Background(), "shop"); err != nil {
		t.Fatal(err)
	}
}

// reader is a segment store on a read-only connection to store's
// database, as the dashboards read.
func reader(t *testing.T, store *chstore.Store) *segments.Store {
	return segments.NewStore(profiles.NewStore(stacktest.Reader(t, store), profiles.DefaultRules))
}

func conds(t *testing.T, js string) []segments.Condition {
	t.Helper()
	var c []segments.Condition
	if err := json.Unmarshal([]byte(js), &c); err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	return c
}

func members(t *testing.T, s *segments.Store, seg segments.Segment, consent string) []string {
	t.Helper()
	var got []string
	err := s.Members(context.Background(), seg, consent, "", 0, func(p profiles.Person) error {
		got = append(got, p.Key)
		return nil
	})
	if err != nil {
		t.Fatalf("%+v: %v", seg.Conditions, err)
	}
	return got
}

func TestRules(t *testing.T) {
	store, _, _ := Seed(t)
	s := reader(t, store)
	cases := []struct {
		rules string
		want  []string
	}{
		{`[{"field":"revenue","op":">=","value":100}]`, []string{"ann@x"}},
		{`[{"field":"orders","value":1}]`, []string{"ann@x", "bob@x"}},
		{`[{"field":"orders","op":"<","value":1},{"field":"identified","value":true}]`, []string{"cat@x", "dan@x"}},
		{`[{"field":"class","op":"in","value":["customer","loyal"]}]`, []string{"ann@x", "bob@x"}},
		{`[{"field":"class","value":"loyal"}]`, []string{"ann@x"}},
		{`[{"field":"class","value":"prospect"}]`, []string{"v3"}},
		{`[{"field":"class","value":"subscriber"}]`, []string{"cat@x", "dan@x"}},
		{`[{"field":"stage","value":"conversion"}]`, []string{"bob@x"}},
		{`[{"field":"population","value":"pro"}]`, []string{"ann@x"}},
		{`[{"field":"population","op":"not","value":"pro"},{"field":"orders","value":1}]`, []string{"bob@x"}},
		{`[{"field":"viewed_section","value":"/shoes","days":30}]`, []string{"ann@x"}},
		{`[{"field":"viewed_section","value":"/shoes/trail","days":30}]`, []string{"ann@x"}},
		{`[{"field":"viewed_section","value":"/sho%65s","days":30}]`, []string{"ann@x"}},
		{`[{"field":"viewed_section","value":"/sho%65s/tr%61il","days":30}]`, []string{"ann@x"}},
		{`[{"field":"viewed_section","value":"/shoes/road","days":30}]`, nil},
		{`[{"field":"viewed_section","value":"/hats","days":30}]`, nil},
		{`[{"field":"viewed_section","value":"/hats","days":60}]`, []string{"bob@x"}},
		{`[{"field":"event","value":"email_open","campaign":"spring"},{"field":"event","op":"not","value":"email_click","campaign":"spring"}]`, []string{"cat@x"}},
		{`[{"field":"consent","value":"newsletter"}]`, []string{"ann@x", "cat@x", "dan@x"}},
		{`[{"field":"subscribed","value":false}]`, []string{"bob@x", "v3"}},
		{`[{"field":"days_since_last_order","op":">=","value":30}]`, []string{"bob@x"}},
		{`[{"field":"identified","value":false}]`, []string{"v3"}},
	}
	for _, c := range cases {
		got := members(t, s, segments.Segment{Site: "shop", Conditions: conds(t, c.rules)}, "")
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", c.rules, got, c.want)
		}
	}
	// Exports for a purpose leave out who did not consent to it.
	all := segments.Segment{Site: "shop", Conditions: conds(t, `[{"field":"identified","value":true}]`)}
	if got := members(t, s, all, "newsletter"); !slices.Equal(got, []string{"ann@x", "cat@x", "dan@x"}) {
		t.Errorf("identified with newsletter consent: %v", got)
	}
	for _, bad := range []string{
		`[{"field":"revenue","op":"~","value":1}]`,
		`[{"field":"revenue","value":"lots"}]`,
		`[{"field":"class","value":""}]`,
		`[{"field":"shoe_size","value":42}]`,
		`[{"field":"viewed_section","value":"/x","days":99999}]`,
		`[{"field":"population","value":""}]`,
	} {
		_, err := segments.Compile(profiles.NewStore(nil, profiles.DefaultRules), "shop", conds(t, bad))
		if err == nil {
			t.Errorf("%s compiled", bad)
		}
	}
}

func TestSaveListDelete(t *testing.T) {
	_, _, s := Seed(t)
	ctx := context.Background()
	seg, err := s.Save(ctx, segments.Segment{Site: "shop", Name: "Big spenders", Conditions: conds(t, `[{"field":"revenue","value":100}]`)})
	if err != nil {
		t.Fatal(err)
	}
	seg.Name = "Big spenders (50+)"
	seg.Conditions = conds(t, `[{"field":"revenue","value":50}]`)
	if _, err := s.Save(ctx, seg); err != nil {
		t.Fatal(err)
	}
	list, err := s.List(ctx, "shop")
	if err != nil || len(list) != 1 || list[0].Name != "Big spenders (50+)" || string(list[0].Conditions[0].Value) != "50" {
		t.Fatalf("list %+v %v", list, err)
	}
	if n, err := s.Count(ctx, list[0]); err != nil || n != 1 {
		t.Errorf("count %d %v", n, err)
	}
	if sites, err := s.Sites(ctx); err != nil || !slices.Equal(sites, []string{"shop"}) {
		t.Errorf("sites %v %v", sites, err)
	}
	if err := s.Delete(ctx, "shop", seg.ID); err != nil {
		t.Fatal(err)
	}
	if list, _ := s.List(ctx, "shop"); len(list) != 0 {
		t.Errorf("after delete: %+v", list)
	}
	if _, err := s.Save(ctx, segments.Segment{Site: "shop", Name: " ", Conditions: conds(t, `[{"field":"orders","value":1}]`)}); err == nil {
		t.Error("nameless segment saved")
	}
}

// TestEvaluate: a first evaluation records members without changes; later
// ones return who entered and left, and the sizes over time add up.
func TestEvaluate(t *testing.T) {
	store, people, s := Seed(t)
	ctx := context.Background()
	prospects := segments.Segment{Site: "shop", ID: "class:prospect", Name: "class prospect", Conditions: conds(t, `[{"field":"class","value":"prospect"}]`)}
	customers := segments.Segment{Site: "shop", ID: "class:customer", Name: "class customer", Conditions: conds(t, `[{"field":"class","value":"customer"}]`)}
	eval := func(seg segments.Segment) segments.Evaluation {
		t.Helper()
		ev, err := s.Evaluate(ctx, seg)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Commit(ctx, ev); err != nil {
			t.Fatal(err)
		}
		return ev
	}
	if ev := eval(prospects); !ev.First || len(ev.Changes) != 1 || ev.Size.Members != 1 {
		t.Fatalf("first evaluation %+v", ev)
	}
	if ev := eval(customers); !ev.First || ev.Size.Members != 1 {
		t.Fatalf("first evaluation %+v", ev)
	}
	if ev := eval(prospects); ev.First || len(ev.Changes) != 0 || ev.Size.Members != 1 {
		t.Fatalf("nothing changed, got %+v", ev)
	}
	// v3 orders: leaves the prospects, becomes a customer.
	stacktest.Insert(t, store, stacktest.Hit{At: time.Now(), Revenue: 5_000_000,
		Fields: map[event.Field]string{event.Site: "shop", event.Type: "purchase", event.VisitorID: "v3", event.OrderID: "c1"}})
	refresh(t, people)
	ev := eval(prospects)
	if len(ev.Changes) != 1 || ev.Changes[0].PersonKey != "v3" || ev.Changes[0].Entered || ev.Size.Members != 0 || ev.Size.Left != 1 {
		t.Errorf("prospects after v3's order: %+v", ev)
	}
	ev = eval(customers)
	if len(ev.Changes) != 1 || ev.Changes[0].PersonKey != "v3" || !ev.Changes[0].Entered || ev.Size.Members != 2 {
		t.Errorf("customers after v3's order: %+v", ev)
	}
	sizes, err := s.Sizes(ctx, "shop", "class:prospect", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil || len(sizes) != 3 || sizes[0].Members != 1 || sizes[2].Members != 0 {
		t.Errorf("sizes %+v %v", sizes, err)
	}
	// Ann becomes a subscriber of the built-in "class:..." segments only
	// through evaluation of the site: EvaluateSite covers them all.
	var got []string
	err = s.EvaluateSite(ctx, "shop", func(cs []segments.Change) error {
		for _, c := range cs {
			got = append(got, c.Segment+" "+c.PersonKey)
		}
		return nil
	})
	if err != nil || len(got) != 0 {
		t.Errorf("first site evaluation (all baselines but the two above): %v %v", got, err)
	}
	if _, err := profiles.NewStore(store.DB(), profiles.DefaultRules).SetOverride(ctx, "shop", "dan@x", ptr("loyal"), nil); err != nil {
		t.Fatal(err)
	}
	got = nil
	err = s.EvaluateSite(ctx, "shop", func(cs []segments.Change) error {
		for _, c := range cs {
			got = append(got, c.Segment+" "+c.PersonKey+" "+strings.ToLower(map[bool]string{true: "in", false: "out"}[c.Entered]))
		}
		return nil
	})
	want := []string{"class:subscriber dan@x out", "class:loyal dan@x in"}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("dan made loyal by hand: %v %v, want %v", got, err, want)
	}
}

func ptr(s string) *string { return &s }

// TestNotOpened: the last N campaigns by send time, who was sent one of
// them, and who opened or clicked none.
func TestNotOpened(t *testing.T) {
	store, people, _ := Seed(t)
	s := reader(t, store)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	raw := store.DB().Driver()
	insert := func(sql string, rows ...[]any) {
		t.Helper()
		b, err := raw.PrepareBatch(ctx, sql)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			if err := b.Append(r...); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.Send(); err != nil {
			t.Fatal(err)
		}
	}
	day := 24 * time.Hour
	insert("INSERT INTO campaigns (site_id, campaign_id, name, sent_at, version)",
		[]any{"shop", "c1", "winter", now.Add(-20 * day), uint64(1)},
		[]any{"shop", "c2", "spring", now.Add(-10 * day), uint64(1)},
		[]any{"other", "c3", "later, elsewhere", now, uint64(1)})
	insert("INSERT INTO recipients (site_id, campaign_id, email)",
		[]any{"shop", "c1", "ann@x"}, []any{"shop", "c2", "bob@x"}, []any{"shop", "c2", "cat@x"}, []any{"shop", "c2", "dan@x"}, []any{"shop", "c2", "eve@x"})
	// Dan opens c2 by e-mail; Ann clicks c1; Eve clicks c2 with images
	// blocked, so no open: her click is her open.
	en := enrich.New(10)
	var rows []chstore.Row
	for _, h := range []struct{ user, typ, campaign string }{{"dan@x", "email_open", "c2"}, {"ann@x", "email_click", "c1"}, {"eve@x", "email_click", "c2"}} {
		var r chstore.Row
		e := &r.Event
		e.ID, e.TimeMs, e.Ingest = event.NewID(now.UnixMilli()), now.UnixMilli(), event.IngestEmail
		for f, v := range map[event.Field]string{event.Site: "shop", event.Type: h.typ, event.UserID: h.user, event.UTMCampaign: h.campaign} {
			e.F[f] = []byte(v)
		}
		en.Enrich(e, &r.Enriched)
		rows = append(rows, r)
	}
	if err := store.Insert(ctx, rows); err != nil {
		t.Fatal(err)
	}
	refresh(t, people)
	for _, c := range []struct {
		rules string
		want  []string
	}{
		{`[{"field":"not_opened_last_campaigns","value":1}]`, []string{"bob@x", "cat@x"}},
		{`[{"field":"not_opened_last_campaigns","value":2}]`, []string{"bob@x", "cat@x"}},
		{`[{"field":"not_opened_last_campaigns","value":1},{"field":"subscribed","value":true}]`, []string{"cat@x"}},
		{`[{"field":"not_opened_last_campaigns","op":"not","value":1}]`, []string{"ann@x", "dan@x", "eve@x", "v3"}},
		{`[{"field":"event","value":"email_open","campaign":"c2"}]`, []string{"dan@x", "eve@x"}},
		{`[{"field":"event","op":"not","value":"email_open","campaign":"c2"},{"field":"identified","value":true}]`, []string{"ann@x", "bob@x", "cat@x"}},
		{`[{"field":"orders","value":1},{"field":"orders","op":"<","value":2}]`, []string{"bob@x"}},
	} {
		got := members(t, s, segments.Segment{Site: "shop", Conditions: conds(t, c.rules)}, "")
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", c.rules, got, c.want)
		}
	}
}

// TestGroupsAndLabels: conditions grouped with any/all, populations given
// as a list (any of them), and classes the shop defines ("VIP") select
// the exact people; the plain list stays an AND; malformed groups and
// labels are refused.
func TestGroupsAndLabels(t *testing.T) {
	store, people, _ := Seed(t)
	ctx := context.Background()
	if _, err := people.SetOverride(ctx, "shop", "bob@x", nil, []string{"Pro B2B", "revendeur"}); err != nil {
		t.Fatal(err)
	}
	if _, err := people.SetOverride(ctx, "shop", "dan@x", ptr("VIP"), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := people.SetOverride(ctx, "shop", "cat@x", ptr("clients fidèles"), []string{"grossiste"}); err != nil {
		t.Fatal(err)
	}
	s := reader(t, store)
	cases := []struct {
		rules string
		want  []string
	}{
		{`[{"field":"population","value":["revendeur","pro"]}]`, []string{"ann@x", "bob@x"}},
		{`[{"field":"population","value":["revendeur","grossiste"]}]`, []string{"bob@x", "cat@x"}},
		{`[{"field":"population","value":"Pro B2B"}]`, []string{"bob@x"}},
		{`[{"field":"population","value":"Pro"}]`, nil},
		{`[{"field":"population","op":"not","value":["revendeur","pro"]},{"field":"orders","value":1}]`, nil},
		{`[{"field":"class","value":"VIP"}]`, []string{"dan@x"}},
		{`[{"field":"class","value":["VIP","loyal","clients fidèles"]}]`, []string{"ann@x", "cat@x", "dan@x"}},
		{`[{"field":"class","op":"not in","value":["VIP","clients fidèles"]},{"field":"identified","value":true}]`, []string{"ann@x", "bob@x"}},
		{`[{"any":[{"all":[{"field":"population","value":"pro"},{"field":"orders","value":3}]},{"field":"class","value":"VIP"}]}]`, []string{"ann@x", "dan@x"}},
		{`[{"any":[{"field":"class","value":"prospect"},{"field":"days_since_last_order","value":30}]}]`, []string{"bob@x", "v3"}},
		{`[{"any":[{"field":"population","value":"pro"},{"field":"population","value":"revendeur"}]},{"field":"orders","value":2}]`, []string{"ann@x"}},
		{`[{"all":[{"field":"orders","value":1},{"field":"revenue","op":"<","value":100}]}]`, []string{"bob@x"}},
		{`[{"any":[{"field":"event","value":"email_click","campaign":"spring"},{"all":[{"field":"viewed_section","value":"/hats","days":60},{"field":"orders","value":1}]}]}]`, []string{"bob@x", "dan@x"}},
	}
	for _, c := range cases {
		got := members(t, s, segments.Segment{Site: "shop", Conditions: conds(t, c.rules)}, "")
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", c.rules, got, c.want)
		}
	}
	twentyOne := "[" + strings.Repeat(`{"field":"orders","value":1},`, 20) + `{"any":[{"field":"orders","value":1}]}]`
	for _, bad := range []string{
		`[{"any":[]}]`,
		`[{"all":[]}]`,
		`[{"any":[{"field":"orders","value":1}],"field":"orders","value":1}]`,
		`[{"any":[{"field":"orders","value":1}],"all":[{"field":"orders","value":1}]}]`,
		`[{"any":[{"all":[{"any":[{"field":"orders","value":1}]}]}]}]`,
		`[{"any":[{"field":"revenue","op":"~","value":1}]}]`,
		twentyOne,
		`[{"field":"population","value":["pro",""]}]`,
		`[{"field":"population","value":["a|b"]}]`,
		`[{"field":"class","value":"  VIP"}]`,
		`[{"field":"class","value":"VIP\u0007"}]`,
		`[{"field":"class","value":"` + strings.Repeat("é", 65) + `"}]`,
		`[{"field":"stage","value":"VIP"}]`,
	} {
		_, err := segments.Compile(profiles.NewStore(nil, profiles.DefaultRules), "shop", conds(t, bad))
		if err == nil {
			t.Errorf("%s compiled", bad)
		}
	}
	// A class of 64 characters is one.
	if _, err := segments.Compile(profiles.NewStore(nil, profiles.DefaultRules), "shop",
		conds(t, `[{"field":"class","value":"`+strings.Repeat("é", 64)+`"}]`)); err != nil {
		t.Error(err)
	}
	for _, bad := range []string{"", " VIP", "a\nb", strings.Repeat("x", 65)} {
		if _, err := people.SetOverride(ctx, "shop", "ann@x", ptr(bad), nil); err == nil && bad != "" {
			t.Errorf("class %q set", bad)
		}
	}
	if _, err := people.SetOverride(ctx, "shop", "ann@x", nil, []string{"pro|revendeur"}); err == nil {
		t.Error(`population "pro|revendeur" set`)
	}
}
