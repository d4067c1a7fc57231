package money_test

import (
	"strings"
	"testing"

	"footfall/internal/money"
)

// TestRateDayTwice: a file giving one day on two lines, in the same or in
// another spelling, is refused with both lines named; before, it was taken
// and the first line won.
func TestRateDayTwice(t *testing.T) {
	for file, want := range map[string]string{
		"Date,USD,JPY\n2026-10-01,1.10,150\n2026-10-01,1.30,100\n":                         "lines 2 and 3: both are 2026-10-01",
		"Date,USD,JPY\n2026-10-01,1.10,150\n2026-10-02,1.2,151\n1 October 2026,1.30,100\n": "lines 2 and 4: both are 2026-10-01",
		"Date, USD, JPY,\n5 January 2024, 1.09, 158,\n2024-01-05,1.0921,158.13\n":          "lines 2 and 3: both are 2024-01-05",
		"Date,USD\n2026-10-01,1.1\n2026-10-01,1.1\n":                                       "lines 2 and 3: both are 2026-10-01",
	} {
		rates, err := money.ParseECB(strings.NewReader(file))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v rates, error %v; want %q", file, len(rates), err, want)
		}
	}
	if rates, err := money.ParseECB(strings.NewReader("Date,USD\n2026-10-01,1.1\n2026-10-02,1.2\n")); err != nil || len(rates) != 2 {
		t.Errorf("two days: %v %v", rates, err)
	}
}
