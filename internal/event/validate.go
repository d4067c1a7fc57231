package event

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// Set stores v in field f after checking it against the field's Spec:
// free text is cut at MaxLen on a rune boundary, identifiers that are too
// long or hold other characters are refused. v is kept, not copied.
func (e *Event) Set(f Field, v []byte) error {
	s := &Specs[f]
	switch s.Kind {
	case Text, Link:
		e.F[f] = truncate(v, s.MaxLen)
		return nil
	case Key:
		if len(v) > s.MaxLen {
			return fieldError{f, fmt.Sprintf("is longer than %d bytes", s.MaxLen)}
		}
		// Refused, not cleaned: two ids that differ only in their invalid
		// bytes would become one person or one order.
		if !Clean(v) {
			return fieldError{f, "holds bytes that are not UTF-8 text, or a NUL"}
		}
	case Ident:
		if len(v) > s.MaxLen {
			return fieldError{f, "is longer than the limit"}
		}
		for _, c := range v {
			if !isIdentByte(c) {
				return fieldError{f, "has a character outside [A-Za-z0-9_.:@+-]"}
			}
		}
	case Lower:
		if len(v) > s.MaxLen {
			return fieldError{f, "is longer than the limit"}
		}
		for _, c := range v {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
				return fieldError{f, "has a character outside [a-z0-9_]"}
			}
		}
	case CurrencyCode:
		// ISO 4217 codes are upper case; eur is EUR (ASCII only: the
		// copy is made only for a code sent in lower case).
		if len(v) == 3 && (isLower(v[0]) || isLower(v[1]) || isLower(v[2])) {
			v = []byte{asciiUpper(v[0]), asciiUpper(v[1]), asciiUpper(v[2])}
		}
		if len(v) != 0 && (len(v) != 3 || !isUpper(v[0]) || !isUpper(v[1]) || !isUpper(v[2])) {
			return fieldError{f, "is not a three-letter upper-case ISO 4217 code"}
		}
	}
	e.F[f] = v
	return nil
}

// AddProp appends a custom property, refusing more than MaxProps or an empty
// or over-long key; the value is cut at MaxPropValueLen.
func (e *Event) AddProp(k, v []byte) error {
	if len(e.Props) >= MaxProps {
		return ErrTooManyProps
	}
	if len(k) == 0 || len(k) > MaxPropKeyLen {
		return ErrPropKey
	}
	e.Props = append(e.Props, Prop{Key: k, Value: truncate(v, MaxPropValueLen)})
	return nil
}

// Errors returned for bad input; their text is what clients see.
var (
	ErrNoSite           = errors.New("site is required")
	ErrNoType           = errors.New("type is required")
	ErrRevenueNoCurency = errors.New("revenue needs a currency")
	ErrTooManyProps     = fmt.Errorf("more than %d props", MaxProps)
	ErrPropKey          = fmt.Errorf("a prop key must be 1 to %d bytes", MaxPropKeyLen)
	ErrAmount           = errors.New("revenue is not a decimal number with at most 6 decimals")
)

// Validate checks what no single field can: the required fields and the
// fields that only make sense together.
func (e *Event) Validate() error {
	if len(e.F[Site]) == 0 && e.Ingest != IngestEmail {
		return ErrNoSite
	}
	if len(e.F[Type]) == 0 {
		return ErrNoType
	}
	if e.Revenue != 0 && len(e.F[Currency]) == 0 {
		return ErrRevenueNoCurency
	}
	for i := range e.Props {
		if string(e.Props[i].Key) == "lists" {
			if err := checkLists(e.Props[i].Value); err != nil {
				return err
			}
		}
	}
	return e.checkVisitor()
}

// MaxLists bounds the lists one event's lists prop names (comma-separated,
// as a subscribe or unsubscribe names them): each becomes a row of the
// consent ledger.
const MaxLists = 32

var (
	ErrTooManyLists = fmt.Errorf("lists names more than %d lists", MaxLists)
	ErrEmptyList    = errors.New("lists holds an empty name (two commas in a row, or one at an end)")
)

// checkLists bounds a lists prop: at most MaxLists names, none empty
// (empty as a whole is the default list).
func checkLists(v []byte) error {
	if len(v) == 0 {
		return nil
	}
	n, start := 1, 0
	for i, c := range v {
		if c != ',' {
			continue
		}
		if i == start {
			return ErrEmptyList
		}
		if n++; n > MaxLists {
			return ErrTooManyLists
		}
		start = i + 1
	}
	if start == len(v) {
		return ErrEmptyList
	}
	return nil
}

type fieldError struct {
	f      Field
	reason string
}

func (e fieldError) Error() string { return Specs[e.f].Key + " " + e.reason }

// FieldOf says which field err, an error of Set or Validate, is about.
func FieldOf(err error) (Field, bool) {
	var fe fieldError
	if errors.As(err, &fe) {
		return fe.f, true
	}
	return 0, false
}

func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }

func isLower(c byte) bool { return c >= 'a' && c <= 'z' }

func asciiUpper(c byte) byte {
	if isLower(c) {
		return c - 'a' + 'A'
	}
	return c
}

func isIdentByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '_' || c == '.' || c == ':' || c == '@' || c == '+' || c == '-'
}

// truncate cuts b to at most max bytes without splitting a UTF-8 sequence.
func truncate(b []byte, max int) []byte {
	if len(b) <= max {
		return b
	}
	cut := max
	for cut > 0 && cut > max-utf8.UTFMax && !utf8.RuneStart(b[cut]) {
		cut--
	}
	return b[:cut]
}

// MaxAmount is the largest amount, in currency units, that one event may
// bring (and the smallest, negated): one billion, in any currency. It
// keeps a single forged order from outweighing a shop's real revenue,
// and every sum of orders far from the Int64 micros that ClickHouse adds
// them in: 9,223 orders at this amount make 2^63 micros, and the sums of
// internal/orders stop at that bound instead of wrapping round.
const MaxAmount = 1_000_000_000

// MaxAmountMicros is MaxAmount in millionths.
const MaxAmountMicros = MaxAmount * 1_000_000

// ErrAmountTooLarge is an amount beyond MaxAmount.
var ErrAmountTooLarge = errors.New("revenue is over 1000000000, the most one order may bring")

// ParseAmount reads a decimal amount such as "19.99" or "-5" into millionths
// (19990000), exactly, without going through a float. Beyond MaxAmount
// either way it is refused with ErrAmountTooLarge.
func ParseAmount(b []byte) (int64, error) {
	if len(b) == 0 {
		return 0, nil
	}
	neg := false
	if b[0] == '-' {
		neg, b = true, b[1:]
	}
	var whole, frac int64
	digits, fracDigits, seenDot, tooLarge := 0, 0, false, false
	for _, c := range b {
		switch {
		case c == '.' && !seenDot:
			seenDot = true
		case c >= '0' && c <= '9':
			if seenDot {
				if fracDigits == 6 {
					return 0, ErrAmount
				}
				frac = frac*10 + int64(c-'0')
				fracDigits++
			} else {
				digits++
				// Past MaxAmount the rest of the digits are only checked.
				if !tooLarge {
					whole = whole*10 + int64(c-'0')
					tooLarge = whole > MaxAmount
				}
			}
		default:
			return 0, ErrAmount
		}
	}
	if digits == 0 && fracDigits == 0 {
		return 0, ErrAmount
	}
	for i := fracDigits; i < 6; i++ {
		frac *= 10
	}
	if tooLarge || whole == MaxAmount && frac > 0 {
		return 0, ErrAmountTooLarge
	}
	v := whole*1_000_000 + frac
	if neg {
		v = -v
	}
	return v, nil
}
