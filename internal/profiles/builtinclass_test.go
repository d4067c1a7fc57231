package profiles

import "testing"

// TestBuiltinClass: a lifecycle class in any case, with or without
// accents, in English or French, is that class; the shop's own words stay.
func TestBuiltinClass(t *testing.T) {
	for in, want := range map[string]string{
		"customer": "customer", "Customer": "customer", "CLIENT": "customer", "client": "customer",
		"Loyal": "loyal", "fidèle": "loyal", "Fidele": "loyal", "FIDÈLE": "loyal",
		"Visiteur": "visitor", "abonné": "subscriber", "Subscriber": "subscriber", "Prospect": "prospect",
		"clients fidèles": "clients fidèles", "VIP": "VIP", "Clients": "Clients",
	} {
		if got := BuiltinClass(in); got != want {
			t.Errorf("BuiltinClass(%q) = %q, want %q", in, got, want)
		}
	}
}
