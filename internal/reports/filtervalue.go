package reports

import "footfall/internal/urlform"

// canonicalValue brings a filter's value to the form its dimension is
// stored in (urlform), as ParseFilter reads it: page^=/caf%C3%A9 finds
// /café, page==/cafe followed by a combining accent finds /café, and
// host==xn--caf-dma.example finds café.example.
func canonicalValue(dim, v string) string {
	switch dim {
	case "page", "section":
		return urlform.Path(v)
	case "host", "referrer":
		return urlform.Host(v)
	}
	return v
}
