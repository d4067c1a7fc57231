package money_test

import (
	"strings"
	"testing"

	"footfall/internal/money"
)

// TestRateSpellings: a rate is a plain decimal number within
// (MinPerEUR, MaxPerEUR); Go's other spellings of numbers (hexadecimal,
// underscores, exponents, Inf, NaN) and rates out of range are refused
// with their line, and nothing of the file is taken.
func TestRateSpellings(t *testing.T) {
	for _, good := range []struct {
		v    string
		want float64
	}{{"1.0921", 1.0921}, {"158", 158}, {"0.5", 0.5}, {".5", 0.5}, {"1.", 1}, {"9999999.9", 9999999.9}, {"0.000002", 0.000002}} {
		rates, err := money.ParseECB(strings.NewReader("Date,USD\n2026-11-09," + good.v + "\n"))
		if err != nil || len(rates) != 1 || rates[0].PerEUR != good.want {
			t.Errorf("%q: %+v, %v; want %v", good.v, rates, err, good.want)
		}
	}
	for _, bad := range []string{"0x1p0", "0X1P0", "1_0", "1e-320", "1e400", "1e2", "1E2", "Inf", "+Inf", "NaN", "infinity",
		"+1", "-1", "0", "0.0000001", "0.000001", "10000000", "1e7", "1.1.1", ".", "1,1", "1 1", "0b1", "0o7"} {
		_, err := money.ParseECB(strings.NewReader("Date,USD,JPY\n2026-11-06,1.1,160\n2026-11-09,1.1,\"" + bad + "\"\n"))
		if err == nil {
			t.Errorf("%q taken", bad)
		} else if !strings.Contains(err.Error(), "line 3") {
			t.Errorf("%q: %v, want its line (3)", bad, err)
		}
	}
}
