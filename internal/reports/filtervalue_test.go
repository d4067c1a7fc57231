package reports

import "testing"

// TestFilterValuesInStoredForm: a filter's value is read in the form its
// dimension is stored in, whatever form the analyst typed or a link
// encoded it in.
func TestFilterValuesInStoredForm(t *testing.T) {
	for raw, want := range map[string]string{
		"page^=/caf%C3%A9":             "/café",
		"page==/cafe\u0301/cr%c3%a8me": "/café/crème",
		"section==/caf%C3%A9":          "/café",
		"page^=/a%2fb":                 "/a%2Fb",
		"host==xn--caf-dma.example":    "café.example",
		"host==CAFÉ.Example":           "café.example",
		"referrer==WWW.Google.COM":     "www.google.com",
		"utm_source==News%20Letter":    "News%20Letter",
		"source==Caf%C3%A9":            "Caf%C3%A9",
	} {
		f, err := ParseFilter(raw)
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		if f.Value != want {
			t.Errorf("%s: value %q, want %q", raw, f.Value, want)
		}
	}
}
