package chsql

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
)

// Args are a statement's named parameters: Args{"site": s} binds @site.
type Args map[string]any

// Set is a list bound as a set for IN: ('a', 'b'). A plain slice binds
// as an array: ['a', 'b']. An empty Set is an error, since IN () is not
// SQL; callers decide what an empty list means.
type Set[T any] []T

// Date binds a time as a Date (the day of t in UTC), not a DateTime.
type Date time.Time

// Bind replaces each @name outside string literals, quoted identifiers and
// comments with the literal of args[name]. A parameter the statement uses
// but args lacks is an error; so is one args has but the statement never
// uses, which is usually a typo.
//
// Literals are written so that ClickHouse 18.16 and current ClickHouse read
// them alike: DateTime as toDateTime(<unix seconds>), whatever the server's
// time zone; negative numbers in parentheses, so that "x -@n" never turns
// into a comment.
func Bind(sql string, args Args) (string, error) {
	var b strings.Builder
	used := make(map[string]bool, len(args))
	for i := 0; i < len(sql); {
		c := sql[i]
		switch {
		case c == '\'' || c == '"' || c == '`':
			j := skipQuoted(sql, i)
			b.WriteString(sql[i:j])
			i = j
		case c == '-' && strings.HasPrefix(sql[i:], "--"):
			j := strings.IndexByte(sql[i:], '\n')
			if j < 0 {
				j = len(sql) - i
			}
			b.WriteString(sql[i : i+j])
			i += j
		case c == '/' && strings.HasPrefix(sql[i:], "/*"):
			j := strings.Index(sql[i+2:], "*/")
			end := len(sql)
			if j >= 0 {
				end = i + 2 + j + 2
			}
			b.WriteString(sql[i:end])
			i = end
		case c == '@' && i+1 < len(sql) && isNameChar(sql[i+1]):
			j := i + 1
			for j < len(sql) && isNameChar(sql[j]) {
				j++
			}
			name := sql[i+1 : j]
			v, ok := args[name]
			if !ok {
				return "", fmt.Errorf("no value for parameter @%s", name)
			}
			lit, err := Literal(v)
			if err != nil {
				return "", fmt.Errorf("parameter @%s: %w", name, err)
			}
			used[name] = true
			b.WriteString(lit)
			i = j
		default:
			b.WriteByte(c)
			i++
		}
	}
	for name := range args {
		if !used[name] {
			return "", fmt.Errorf("parameter %s is not in the statement", name)
		}
	}
	return b.String(), nil
}

func isNameChar(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// skipQuoted returns the index just past the quoted run starting at i,
// honouring backslash escapes and doubled quotes.
func skipQuoted(s string, i int) int {
	q := s[i]
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			j++
		case q:
			if j+1 < len(s) && s[j+1] == q {
				j++
				continue
			}
			return j + 1
		}
	}
	return len(s)
}

var quoter = strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\x00", `\0`)

// Quote is s as a ClickHouse string literal.
func Quote(s string) string { return "'" + quoter.Replace(s) + "'" }

// Literal is v as a SQL literal that both engines parse to the same value:
// strings, []byte, integers, finite floats, bool (1/0), time.Time
// (DateTime, from 1970 on), Date, uuid.UUID, decimal.Decimal, nil (NULL),
// slices (arrays) and Sets (IN lists).
func Literal(v any) (string, error) {
	switch x := v.(type) {
	case nil:
		return "NULL", nil
	case string:
		return Quote(x), nil
	case []byte:
		return Quote(string(x)), nil
	case bool:
		if x {
			return "1", nil
		}
		return "0", nil
	case time.Time:
		if x.Unix() < 0 || x.Unix() > math.MaxUint32 {
			return "", fmt.Errorf("time %s is outside DateTime's range", x)
		}
		return "toDateTime(" + strconv.FormatInt(x.Unix(), 10) + ")", nil
	case Date:
		t := time.Time(x).UTC()
		return "toDate('" + t.Format(time.DateOnly) + "')", nil
	case uuid.UUID:
		return Quote(x.String()), nil
	case decimal.Decimal:
		return signed(x.String()), nil
	case float32:
		return float(float64(x), 32)
	case float64:
		return float(x, 64)
	case fmt.Stringer:
		return Quote(x.String()), nil
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return signed(strconv.FormatInt(rv.Int(), 10)), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.FormatUint(rv.Uint(), 10), nil
	case reflect.String:
		return Quote(rv.String()), nil
	case reflect.Slice, reflect.Array:
		isSet := strings.HasPrefix(rv.Type().Name(), "Set[")
		if isSet && rv.Len() == 0 {
			return "", fmt.Errorf("empty set")
		}
		parts := make([]string, rv.Len())
		for i := range parts {
			s, err := Literal(rv.Index(i).Interface())
			if err != nil {
				return "", err
			}
			parts[i] = s
		}
		if isSet {
			return "(" + strings.Join(parts, ", ") + ")", nil
		}
		return "[" + strings.Join(parts, ", ") + "]", nil
	}
	return "", fmt.Errorf("no literal for %T", v)
}

func signed(s string) string {
	if strings.HasPrefix(s, "-") {
		return "(" + s + ")"
	}
	return s
}

func float(f float64, bits int) (string, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "", fmt.Errorf("float %v has no literal", f)
	}
	return signed(strconv.FormatFloat(f, 'g', -1, bits)), nil
}
