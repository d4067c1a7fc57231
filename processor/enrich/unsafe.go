package enrich

import "unsafe"

// unsafeString views b as a string without copying. The processor keeps the
// Kafka messages an event was decoded from until its batch is in ClickHouse,
// and never writes to them, so the view stays valid that long.
func unsafeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// String is unsafeString for the store, which builds columns from events.
func String(b []byte) string { return unsafeString(b) }

// unsafeBytes views s as bytes without copying, for a reader that does
// not write to them (sites.Entry.ListsHost).
func unsafeBytes(s string) []byte {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice(unsafe.StringData(s), len(s))
}
