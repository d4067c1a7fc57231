package reports

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"footfall/internal/chsql"
)

// dims are the dimensions a report breaks down or filters by, as
// expressions over the events table.
//
// What brought the visit (source, medium, utm_*, affiliate, click_id) is
// a property of the visit, not of each event: these read the visit_*
// columns, the values the processor credited the event with when it wrote
// it (processor/attribute: its session's landing, else the visitor's last
// non-direct landing of the 30 days before, else (direct)). A breakdown by
// source, a filter source==google and a series filtered by it all count
// the same events: a Google visitor's later pages, cart and order, server
// side orders included, and not a page view whose own referrer was
// Google but whose visit a newsletter brought. The event's own referrer
// stays the referrer dimension.
var dims = map[string]string{
	"page":         "url_path",
	"section":      "concat('/', splitByChar('/', url_path)[2])",
	"host":         "url_host",
	"referrer":     "referrer_host",
	"source":       "visit_source",
	"medium":       "visit_medium",
	"utm_source":   "visit_utm_source",
	"utm_medium":   "visit_utm_medium",
	"utm_campaign": "visit_utm_campaign",
	"utm_content":  "visit_utm_content",
	"utm_term":     "visit_utm_term",
	"affiliate":    "visit_affiliate",
	"click_id":     "visit_click_id",
	"browser":      "browser",
	"os":           "os",
	"device":       "device",
	"country":      "country",
	"type":         "type",
	// A custom event's name (track), and the product of a product's
	// event (viewProduct, addToCart, removeFromCart), each only on its
	// own events: the name field holds both, and a breakdown by event
	// listed the products viewed as if they were events.
	"event":   "if(type = 'event', name, '')",
	"product": "if(type IN ('product_view', 'add_to_cart', 'remove_from_cart'), name, '')",
}

// propKey is the shape of an event property a report may use as a
// dimension, prop.<key>.
var propKey = regexp.MustCompile(`^prop\.[A-Za-z0-9_-]{1,64}$`)

// isDim says whether name is an event dimension.
func isDim(name string) bool {
	_, ok := dims[name]
	return ok || propKey.MatchString(name)
}

// dimExpr is the expression of an event dimension, or false. A property's
// key is a parameter, added to args (param).
func dimExpr(name string, args chsql.Args) (string, bool) {
	if propKey.MatchString(name) {
		return "prop_values[indexOf(prop_keys, " + param(args, strings.TrimPrefix(name, "prop.")) + ")]", true
	}
	expr, ok := dims[name]
	return expr, ok
}

// param adds v to args under the first free generated name, f0, f1, ...,
// and returns its reference (@f0): the values of SQL composed at run time
// (filters, a property's key) go in parameters like any other.
func param(args chsql.Args, v any) string {
	for i := 0; ; i++ {
		name := "f" + strconv.Itoa(i)
		if _, taken := args[name]; !taken {
			args[name] = v
			return "@" + name
		}
	}
}

// sessionDims are dimensions of a whole session, columns of the session
// breakdown's rows: its first and last page view, and whether its visitor
// had been seen before it.
var sessionDims = map[string]bool{"entry_page": true, "exit_page": true, "visitor_type": true}

// Filter is one condition of a report: dim==value, dim!=value, or
// dim^=prefix (starts with).
type Filter struct {
	Dim, Op, Value string
}

// String is the filter as written: device==mobile.
func (f Filter) String() string { return f.Dim + f.Op + f.Value }

var filterOps = []string{"==", "!=", "^="}

// ParseFilter reads one filter, dim==value, dim!=value or dim^=prefix, of
// an event dimension.
func ParseFilter(raw string) (Filter, error) {
	// The first operator in the text splits it: a value may hold "==".
	at, op := -1, ""
	for _, o := range filterOps {
		if i := strings.Index(raw, o); i > 0 && (at < 0 || i < at) {
			at, op = i, o
		}
	}
	if at < 0 {
		return Filter{}, inputErrorf("filter %q: want dimension==value, dimension!=value or dimension^=prefix", raw)
	}
	f := Filter{Dim: raw[:at], Op: op, Value: raw[at+len(op):]}
	if !isDim(f.Dim) {
		return f, inputErrorf("filter %q: unknown dimension %q, want one of %s", raw, f.Dim, dimList())
	}
	f.Value = canonicalValue(f.Dim, f.Value)
	if len(f.Value) > MaxFilterValue {
		return f, inputErrorf("filter %.40q...: a value of %d bytes, longer than any the collector stores (%d)", raw, len(f.Value), MaxFilterValue)
	}
	return f, nil
}

// MaxFilterValue is the longest filter value, in bytes: the longest value
// the collector stores (a URL, event.Specs; a property's value,
// event.MaxPropValueLen).
const MaxFilterValue = 2048

// MaxFilterBytes bounds the values of a report's filters together: a
// statement names them up to four times, and ClickHouse refuses one past
// 256 KiB (max_query_size).
const MaxFilterBytes = 8 << 10

// ParseFilters reads a report's filters (ParseFilter), their values at
// most MaxFilterBytes together.
func ParseFilters(raws []string) ([]Filter, error) {
	var out []Filter
	var size filterBytes
	for _, raw := range raws {
		f, err := ParseFilter(raw)
		if err != nil {
			return nil, err
		}
		if err := size.add(f); err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

// filterBytes counts the bytes of a report's filter values (a list's, a
// funnel's steps'), refusing past MaxFilterBytes.
type filterBytes int

func (n *filterBytes) add(f Filter) error {
	if *n += filterBytes(len(f.Value)); *n > MaxFilterBytes {
		return inputErrorf("filters: their values are more than %d bytes together", MaxFilterBytes)
	}
	return nil
}

// where is the condition of filters over the events, " AND <condition>"
// for each, their values added to args under generated names (param), so
// that the conditions of several lists of filters can go in one statement.
func where(filters []Filter, args chsql.Args) string {
	var sb strings.Builder
	for _, f := range filters {
		expr, _ := dimExpr(f.Dim, args)
		v := param(args, f.Value)
		switch f.Op {
		case "==":
			sb.WriteString(" AND " + expr + " = " + v)
		case "!=":
			sb.WriteString(" AND " + expr + " != " + v)
		case "^=":
			sb.WriteString(" AND startsWith(" + expr + ", " + v + ")")
		}
	}
	return sb.String()
}

func dimList() string {
	var names []string
	for k := range dims {
		names = append(names, k)
	}
	for k := range sessionDims {
		names = append(names, k)
	}
	slices.Sort(names)
	return strings.Join(names, ", ") + ", prop.<property key>, prop (breakdown only: the property keys)"
}

// InputError is a report's answer to a parameter it cannot take: the
// caller's mistake (an HTTP 400), not the database's.
type InputError struct{ msg string }

func (e *InputError) Error() string { return e.msg }

func inputErrorf(format string, a ...any) error {
	return &InputError{msg: fmt.Sprintf(format, a...)}
}
