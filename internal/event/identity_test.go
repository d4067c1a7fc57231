package event

import "testing"

// TestNormalizeUser: every spelling of an address is one user id; account
// ids keep their case.
func TestNormalizeUser(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"ann@shop.example", "ann@shop.example"},
		{" Ann@Shop.Example ", "ann@shop.example"},
		{"mia@example.com.", "mia@example.com"},
		{"joe@xn--caf-dma.example", "joe@café.example"},
		{"joe@CAFÉ.example", "joe@café.example"},
		{"joe@cafe\u0301.example", "joe@café.example"},
		{"joe@XN--CAF-DMA.EXAMPLE.", "joe@café.example"},
		{"joe@café。example", "joe@café.example"}, // an ideographic full stop, as IDNA maps it
		{"zoe\u0308@x.example", "zoë@x.example"},
		{"ZOË@x.example", "zoë@x.example"},
		{"a@b@Shop.Example", "a@b@shop.example"},
		{"user@[192.0.2.1]", "user@[192.0.2.1]"},
		{"Cust-42", "Cust-42"},
		{"ÄCCOUNT-7", "ÄCCOUNT-7"},
		{"", ""},
	} {
		if got := NormalizeUser(c.in); got != c.want {
			t.Errorf("NormalizeUser(%q) = %q, want %q", c.in, got, c.want)
		}
		if got := NormalizeUser(c.want); got != c.want {
			t.Errorf("NormalizeUser(%q) = %q: the normal form is not stable", c.want, got)
		}
	}
	if n := testing.AllocsPerRun(100, func() { NormalizeUser("ann@shop.example") }); n != 0 {
		t.Errorf("%v allocations for an address already normal", n)
	}
}

// TestFoldUser: every spelling of one address is one tombstone key.
func TestFoldUser(t *testing.T) {
	want := FoldUser("josé@café.example")
	for _, s := range []string{"José@Café.example", "JOSÉ@XN--CAF-DMA.EXAMPLE", "ｊｏｓé@café.example",
		"jose\u0301@cafe\u0301.example", "josé@café.example.", " josé@café.example ", "ｊｏｓé＠ｃａｆé．ｅｘａｍｐｌｅ",
		"josé@café\u3002example", "JOSE\u0301@CAFE\u0301.EXAMPLE"} {
		if got := FoldUser(s); got != want {
			t.Errorf("FoldUser(%q) = %q, want %q", s, got, want)
		}
	}
	if got := FoldUser("STRASSE@example.com"); got != FoldUser("straße@example.com") {
		t.Errorf("case folding: %q vs %q", got, FoldUser("straße@example.com"))
	}
	if FoldUser("Cust-42") != "Cust-42" || FoldUser("ann@example.com") != "ann@example.com" {
		t.Errorf("account ids keep their case; plain addresses stay: %q %q", FoldUser("Cust-42"), FoldUser("ann@example.com"))
	}
	if FoldUser("bob@example.com") == want {
		t.Error("two addresses one key")
	}
}
