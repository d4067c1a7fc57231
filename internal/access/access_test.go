package access

import "testing"

// TestCan: what each kind of principal may do on its site and on another,
// at each level.
func TestCan(t *testing.T) {
	levels := []Level{Public, Reports, Read, Write}
	cases := []struct {
		name string
		p    *Principal
		shop []bool // Public, Reports, Read, Write on shop
	}{
		{"admin", &Principal{Admin: true}, []bool{true, true, true, true}},
		{"viewer", &Principal{Grants: Grants{"shop": Viewer}}, []bool{true, true, true, false}},
		{"editor", &Principal{Grants: Grants{"shop": Editor}}, []bool{true, true, true, true}},
		{"read token", &Principal{Grants: Grants{"shop": ScopeRead}}, []bool{true, true, true, false}},
		{"write token", &Principal{Grants: Grants{"shop": ScopeWrite}}, []bool{true, true, true, true}},
		{"share link", &Principal{Grants: Grants{"shop": Viewer}, Level: Reports}, []bool{true, true, false, false}},
		{"public key", &Principal{Grants: Grants{"shop": Viewer}, Level: Public}, []bool{true, false, false, false}},
		{"unknown role", &Principal{Grants: Grants{"shop": "owner"}}, []bool{false, false, false, false}},
		{"nobody", nil, []bool{false, false, false, false}},
	}
	for _, c := range cases {
		for i, l := range levels {
			if got := c.p.Can("shop", l); got != c.shop[i] {
				t.Errorf("%s: %s on shop: %v, want %v", c.name, l, got, c.shop[i])
			}
			if got, want := c.p.Can("blog", l), c.p != nil && c.p.Admin; got != want {
				t.Errorf("%s: %s on blog: %v, want %v", c.name, l, got, want)
			}
		}
	}
}

func TestGrants(t *testing.T) {
	g := Grants{"shop": Editor, "blog": Viewer}
	if s := g.String(); s != "blog=viewer,shop=editor" {
		t.Errorf("String: %q", s)
	}
	if back := parseGrants(g.String()); len(back) != 2 || back["shop"] != Editor || back["blog"] != Viewer {
		t.Errorf("parse: %v", back)
	}
	if len(parseGrants("")) != 0 {
		t.Error("empty grants parse to some")
	}
	for _, bad := range []struct {
		g     Grants
		token bool
	}{
		{Grants{"shop": ScopeRead}, false},
		{Grants{"shop": Viewer}, true},
		{Grants{"bad site": Viewer}, false},
		{Grants{"a=b,c": Viewer}, false},
	} {
		if bad.g.Check(bad.token) == nil {
			t.Errorf("%v (token %v) accepted", bad.g, bad.token)
		}
	}
}
