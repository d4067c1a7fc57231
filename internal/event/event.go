// Package event is the hit model shared by the collector and the processor:
// the fields of one tracked event and their binary encoding on Kafka.
package event

// Field indexes the text fields of an Event. Keeping the text fields in one
// array lets the collector fill them from a query string or JSON object by
// name with one table lookup, and lets the codec loop instead of listing them.
type Field uint8

const (
	Site Field = iota
	Type
	Name
	VisitorID
	SessionID
	UserID
	URL
	Referrer
	Title
	UTMSource
	UTMMedium
	UTMCampaign
	UTMTerm
	UTMContent
	Affiliate
	ClickID
	OrderID
	Currency
	IP
	UserAgent
	NumFields
)

// Kind says how a text field is checked on the way in.
type Kind uint8

const (
	// Text is free text: truncated at MaxLen (on a UTF-8 boundary), never rejected.
	Text Kind = iota
	// Ident is an identifier: [A-Za-z0-9_.:@+-], rejected when longer than MaxLen.
	Ident
	// Lower is a lower-case name such as an event type: [a-z0-9_].
	Lower
	// CurrencyCode is an ISO 4217 code: three upper-case letters.
	CurrencyCode
	// Key is free text that names something (a person, an order): refused
	// when longer than MaxLen, since a cut one would name another.
	Key
	// Link is a URL: free text, but one too long is shortened by
	// AppendShortURL in the collector, keeping its campaign parameters,
	// before Set cuts it.
	Link
)

// Spec describes one text field: its name on the wire (query parameter and
// JSON key), its limit, and how it is checked.
type Spec struct {
	Key    string
	MaxLen int
	Kind   Kind
	// Client is false for fields that only the collector sets from the
	// connection (IP, user agent) unless the caller is the trusted server API.
	Client bool
}

// Specs lists every Field's Spec, indexed by Field.
var Specs = [NumFields]Spec{
	Site:        {"site", 64, Ident, true},
	Type:        {"type", 32, Lower, true},
	Name:        {"name", 128, Text, true},
	VisitorID:   {"visitor_id", 128, Ident, true},
	SessionID:   {"session_id", 128, Ident, true},
	UserID:      {"user_id", 256, Key, true},
	URL:         {"url", 2048, Link, true},
	Referrer:    {"referrer", 2048, Link, true},
	Title:       {"title", 512, Text, true},
	UTMSource:   {"utm_source", 256, Text, true},
	UTMMedium:   {"utm_medium", 256, Text, true},
	UTMCampaign: {"utm_campaign", 256, Text, true},
	UTMTerm:     {"utm_term", 256, Text, true},
	UTMContent:  {"utm_content", 256, Text, true},
	Affiliate:   {"affiliate", 128, Text, true},
	ClickID:     {"click_id", 256, Text, true},
	OrderID:     {"order_id", 128, Key, true},
	Currency:    {"currency", 3, CurrencyCode, true},
	IP:          {"ip", 64, Text, false},
	UserAgent:   {"user_agent", 1024, Text, false},
}

// Limits on custom properties.
const (
	MaxProps        = 32
	MaxPropKeyLen   = 64
	MaxPropValueLen = 2048
)

// Ingest says through which door an event came in.
type Ingest uint8

const (
	IngestPixel  Ingest = 1 // GET /p.gif
	IngestBeacon Ingest = 2 // POST /e
	IngestAPI    Ingest = 3 // POST /api/v1/events
	// IngestEmail is a newsletter open, click or unsubscribe: its site,
	// campaign and recipient come from its token, in the processor.
	IngestEmail Ingest = 4
)

// String names the ingest path as stored in ClickHouse.
func (i Ingest) String() string {
	switch i {
	case IngestPixel:
		return "pixel"
	case IngestBeacon:
		return "beacon"
	case IngestAPI:
		return "api"
	case IngestEmail:
		return "email"
	}
	return "unknown"
}

// Prop is one custom property.
type Prop struct {
	Key, Value []byte
}

// Event is one hit. Its byte slices may point into a request or a Kafka
// message, so an Event is only valid while that buffer is; Reset keeps the
// capacity of Props for reuse from a pool.
type Event struct {
	ID     [16]byte // UUIDv7: time-ordered and unique
	TimeMs int64    // server receive time, Unix milliseconds
	Ingest Ingest
	// Revenue is in millionths of the currency unit, so that 19.99 is
	// stored exactly as 19990000.
	Revenue int64
	F       [NumFields][]byte
	Props   []Prop
}

// Reset clears e for reuse.
func (e *Event) Reset() {
	props := e.Props[:0]
	*e = Event{}
	e.Props = props
}

// Get returns field f as a string (allocating); for tests and cold paths.
func (e *Event) Get(f Field) string { return string(e.F[f]) }

// FieldByKey finds the Field whose wire key is key, case ignored
// (UTM_SOURCE is utm_source).
func FieldByKey(key []byte) (Field, bool) {
	for i := range Specs {
		if len(Specs[i].Key) == len(key) && equalFoldASCII(Specs[i].Key, key) {
			return Field(i), true
		}
	}
	return 0, false
}

// equalFoldASCII reports whether lower, a lower-case key, is b in any case.
func equalFoldASCII(lower string, b []byte) bool {
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}
