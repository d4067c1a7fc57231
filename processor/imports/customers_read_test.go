package imports

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// reasons are the rejected rows as "line: reason".
func reasons(bad []Rejected) string {
	var sb strings.Builder
	for _, b := range bad {
		fmt.Fprintf(&sb, "%d: %s\n", b.Line, b.Reason)
	}
	return sb.String()
}

// TestCustomersBuiltinClasses: a lifecycle class written in another case
// or in French is that class, not a class of the shop's own.
func TestCustomersBuiltinClasses(t *testing.T) {
	now := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	body := "email;classe\na@example.com;client\nb@example.com;fidèle\nc@example.com;Loyal\nd@example.com;Customer\ne@example.com;ABONNÉ\nf@example.com;Fidele\ng@example.com;clients fidèles\nh@example.com;VIP\n"
	cs, bad, err := ReadCustomers([]byte(body), now)
	if err != nil || len(bad) > 0 {
		t.Fatal(err, reasons(bad))
	}
	want := []string{"customer", "loyal", "loyal", "customer", "subscriber", "loyal", "clients fidèles", "VIP"}
	for i, c := range cs {
		if c.Class != want[i] {
			t.Errorf("line %d: class %q, want %q", c.Line, c.Class, want[i])
		}
	}
}

// TestCustomersSameAddressTwice: the second row of an address (in any
// case) is an error naming the first's line.
func TestCustomersSameAddressTwice(t *testing.T) {
	now := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	cs, bad, err := ReadCustomers([]byte("email,class\nann@example.com,vip\nbob@example.com,\nANN@Example.com,gold\n"), now)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 2 || len(bad) != 1 || bad[0].Line != 4 || !strings.Contains(bad[0].Reason, "line 2") {
		t.Fatalf("customers %+v, rejected %s", cs, reasons(bad))
	}
}

// TestImportDateToday: a date without a time is that day in the site's
// zone (now's location): today's date is taken at any hour of today
// there, tomorrow's is in the future; the same for consent_time.
func TestImportDateToday(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	la, _ := time.LoadLocation("America/Los_Angeles")
	for _, now := range []time.Time{
		time.Date(2026, 11, 30, 0, 30, 0, 0, paris), // 23:30 UTC the day before
		time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC),
		time.Date(2026, 11, 30, 1, 0, 0, 0, tokyo),
		time.Date(2026, 11, 30, 23, 50, 0, 0, la), // the 1st of December in UTC
	} {
		os, bad, err := ReadOrders([]byte("email,order_id,date,amount,currency\nann@example.com,A1,2026-11-30,10,EUR\nann@example.com,A2,30/11/2026,10,EUR\nann@example.com,A3,2026-12-01,10,EUR\n"), now)
		if err != nil {
			t.Fatal(err)
		}
		if len(os) != 2 || len(bad) != 1 || bad[0].Line != 4 || !strings.Contains(bad[0].Reason, "future") {
			t.Fatalf("now %v: orders %+v, rejected %s", now, os, reasons(bad))
		}
		for _, o := range os {
			if y, m, d := o.Time.In(now.Location()).Date(); y != 2026 || m != 11 || d != 30 || o.Time.After(now) {
				t.Errorf("now %v: order %s at %v", now, o.OrderID, o.Time)
			}
		}
		cs, bad, err := ReadCustomers([]byte("email,consents,consent_source,consent_time,consent_text\nann@example.com,news,shop,2026-11-30,v1\nbob@example.com,news,shop,01/12/2026,v1\n"), now)
		if err != nil {
			t.Fatal(err)
		}
		if len(cs) != 1 || len(bad) != 1 || bad[0].Line != 3 {
			t.Fatalf("now %v: customers %+v, rejected %s", now, cs, reasons(bad))
		}
	}
}

// TestOrdersAmountAndCurrency: an amount of 0 or less, or a currency
// that is no ISO 4217 code, is refused.
func TestOrdersAmountAndCurrency(t *testing.T) {
	now := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	body := "email;order_id;date;amount;currency\n" +
		"a@example.com;B1;2026-01-01;-5;EUR\n" +
		"a@example.com;B2;2026-01-01;0;EUR\n" +
		"a@example.com;B3;2026-01-01;0,00;EUR\n" +
		"a@example.com;B4;2026-01-01;12;ZZZ\n" +
		"a@example.com;B5;2026-01-01;12;€\n" +
		"a@example.com;B6;2026-01-01;12;EURO\n" +
		"a@example.com;B7;2026-01-01;12,5;eur\n" +
		"a@example.com;B8;2026-01-01;3;jpy\n"
	os, bad, err := ReadOrders([]byte(body), now)
	if err != nil {
		t.Fatal(err)
	}
	if len(os) != 2 || os[0].OrderID != "B7" || os[0].Currency != "EUR" || os[1].Currency != "JPY" || len(bad) != 6 {
		t.Fatalf("orders %+v, rejected %s", os, reasons(bad))
	}
}

// TestCustomersUnclosedQuote: a quote left open takes in the lines after
// it; they are said in one error, never dropped unsaid.
func TestCustomersUnclosedQuote(t *testing.T) {
	now := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	cs, bad, err := ReadCustomers([]byte("email,class\nzed@example.com,vip\nann@example.com,\"vip\nbob@example.com,vip\ncarl@example.com,vip\n"), now)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1 || len(bad) != 1 || bad[0].Line != 3 || !strings.Contains(bad[0].Reason, "line 3: unclosed quote; lines 3..5 not read") {
		t.Fatalf("customers %+v, rejected %s", cs, reasons(bad))
	}
}

// TestImportRowsBound: a file of more than MaxImportRows lines, read or
// not, is refused whole.
func TestImportRowsBound(t *testing.T) {
	var sb strings.Builder
	sb.WriteString("email,class\n")
	for i := 0; i <= MaxImportRows; i++ {
		sb.WriteString("a\"b,\n")
	}
	_, _, err := ReadCustomers([]byte(sb.String()), time.Now())
	if err == nil || !strings.Contains(err.Error(), "more than") {
		t.Fatalf("err %v", err)
	}
}

// TestCustomersQuoteClosedFurtherDown: a quote left open and closed by a
// later row's quote takes in the rows between; they are said.
func TestCustomersQuoteClosedFurtherDown(t *testing.T) {
	now := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	cs, bad, err := ReadCustomers([]byte("email,class\nann@example.com,\"vip\nbob@example.com,vip\ncarl@example.com,vip\"\ndave@example.com,vip\n"), now)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1 || cs[0].Email != "dave@example.com" || len(bad) != 1 || bad[0].Line != 2 || !strings.Contains(bad[0].Reason, "lines 2..4 not read") {
		t.Fatalf("customers %+v, rejected %s", cs, reasons(bad))
	}
	// A quoted value over two lines that takes in no row is read.
	cs, bad, _ = ReadCustomers([]byte("email,consents,consent_source,consent_time,consent_text\nann@example.com,news,shop,2026-01-01,\"v1\nsecond line\"\n"), now)
	if len(cs) != 1 || len(bad) != 0 {
		t.Fatalf("customers %+v, rejected %s", cs, reasons(bad))
	}
}
