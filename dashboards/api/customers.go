package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"sort"
	"strings"
	"time"

	"footfall/processor/imports"
)

// maxCustomersBody bounds an import of customers and orders.
const maxCustomersBody = 64 << 20

// importedRow is a row of an import left out, with its file.
type importedRow struct {
	File string `json:"file"` // customers or orders
	imports.Rejected
}

// customersAnswer is what an import of customers did.
type customersAnswer struct {
	Customers int           `json:"customers"`
	Consents  int           `json:"consents"`
	Orders    int           `json:"orders"`
	Known     []importedRow `json:"already_imported"`
	Rejected  []importedRow `json:"rejected"`
	// People are the e-mail addresses of the customers and orders taken
	// (sorted, each once), for a page to show them as classified.
	People []string `json:"people"`
	// RejectedTotal and KnownTotal count every row left out; at most
	// maxListed of each are listed, and NotListed says how many are not.
	RejectedTotal int    `json:"rejected_total"`
	KnownTotal    int    `json:"already_imported_total"`
	NotListed     string `json:"not_listed,omitempty"`
}

// maxListed bounds the rows left out that an answer lists (of each kind):
// a file of bad lines is answered with their count, not with an answer
// many times its size.
const maxListed = 1000

// capListed keeps the first maxListed rows of the rejected and the
// already imported, and says how many more there are.
func (a *customersAnswer) capListed() {
	a.RejectedTotal, a.KnownTotal = len(a.Rejected), len(a.Known)
	var said []string
	if n := len(a.Rejected) - maxListed; n > 0 {
		a.Rejected = a.Rejected[:maxListed]
		said = append(said, fmt.Sprintf("%d rows rejected, the first %d listed: %d more not listed", a.RejectedTotal, maxListed, n))
	}
	if n := len(a.Known) - maxListed; n > 0 {
		a.Known = a.Known[:maxListed]
		said = append(said, fmt.Sprintf("%d orders already imported, the first %d listed: %d more not listed", a.KnownTotal, maxListed, n))
	}
	a.NotListed = strings.Join(said, "; ")
}

// importCustomers answers POST /api/v1/customers/import?site=: a shop's
// customers and their past orders (processor/imports ReadCustomers and
// ReadOrders say the columns), as multipart/form-data with a customers
// file, an orders file or both (the page's upload), or as a text/csv body
// with ?file=customers (the default) or ?file=orders. Nothing is imported
// when a file cannot be read at all (no header, a required column
// missing); otherwise the valid rows are, and each other row is named
// with its file, its line and why.
func (wr *writer) importCustomers(w http.ResponseWriter, r *http.Request) {
	site, ok := siteOf(w, r)
	if !ok {
		return
	}
	files, err := customerFiles(w, r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	if files["customers"] == nil && files["orders"] == nil {
		writeError(w, http.StatusBadRequest, errors.New("no file: send a customers file, an orders file or both (multipart/form-data), or one as text/csv with ?file=customers or ?file=orders"))
		return
	}
	// A date without a time is that day in the site's time zone.
	now := time.Now().In(wr.api.zone(site))
	ans := customersAnswer{Known: []importedRow{}, Rejected: []importedRow{}}
	var cs []imports.Customer
	var os []imports.Order
	var bad []imports.Rejected
	if b := files["customers"]; b != nil {
		if cs, bad, err = imports.ReadCustomers(b, now); err != nil {
			writeError(w, http.StatusBadRequest, fmt.Errorf("customers: %w", err))
			return
		}
		for _, x := range bad {
			ans.Rejected = append(ans.Rejected, importedRow{"customers", x})
		}
	}
	if b := files["orders"]; b != nil {
		if os, bad, err = imports.ReadOrders(b, now); err != nil {
			writeError(w, http.StatusBadRequest, fmt.Errorf("orders: %w", err))
			return
		}
		for _, x := range bad {
			ans.Rejected = append(ans.Rejected, importedRow{"orders", x})
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Minute)
	defer cancel()
	res, err := wr.importer.AddCustomers(ctx, wr.people, site, cs, os)
	if err != nil {
		wr.api.fail(w, "customer import", err)
		return
	}
	ans.Customers, ans.Consents, ans.Orders = res.Customers, res.Consents, res.Orders
	for _, x := range res.Known {
		ans.Known = append(ans.Known, importedRow{"orders", x})
	}
	for _, x := range res.Rejected {
		ans.Rejected = append(ans.Rejected, importedRow{"customers", x})
	}
	for _, x := range res.RejectedOrders {
		ans.Rejected = append(ans.Rejected, importedRow{"orders", x})
	}
	ans.People = importedPeople(cs, os, ans.Rejected)
	sort.SliceStable(ans.Rejected, func(i, j int) bool {
		a, b := ans.Rejected[i], ans.Rejected[j]
		return a.File < b.File || a.File == b.File && a.Line < b.Line
	})
	ans.capListed()
	wr.api.writeLocal(w, site, ans)
}

// importedPeople are the addresses of the customers and orders read that
// were not left out (a row named in rejected), sorted, each once.
func importedPeople(cs []imports.Customer, os []imports.Order, rejected []importedRow) []string {
	type row struct {
		file string
		line int
	}
	out := map[row]bool{}
	for _, r := range rejected {
		out[row{r.File, r.Line}] = true
	}
	seen := map[string]bool{}
	people := []string{}
	take := func(email string, r row) {
		if !out[r] && !seen[email] {
			seen[email] = true
			people = append(people, email)
		}
	}
	for _, c := range cs {
		take(c.Email, row{"customers", c.Line})
	}
	for _, o := range os {
		take(o.Email, row{"orders", o.Line})
	}
	sort.Strings(people)
	return people
}

// customerFiles reads the request's files by name.
func customerFiles(w http.ResponseWriter, r *http.Request) (map[string][]byte, error) {
	body := http.MaxBytesReader(w, r.Body, maxCustomersBody)
	files := map[string][]byte{}
	mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "multipart/form-data" {
		name := r.URL.Query().Get("file")
		if name == "" {
			name = "customers"
		}
		if name != "customers" && name != "orders" {
			return nil, fmt.Errorf("file=%q: want customers or orders", name)
		}
		b, err := io.ReadAll(body)
		if err != nil {
			return nil, fmt.Errorf("body: %w", err)
		}
		if len(b) > 0 {
			files[name] = b
		}
		return files, nil
	}
	mr := multipart.NewReader(body, params["boundary"])
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return files, nil
		}
		if err != nil {
			return nil, fmt.Errorf("multipart body: %w", err)
		}
		name := part.FormName()
		if name != "customers" && name != "orders" {
			return nil, fmt.Errorf("part %q: want customers or orders", strings.TrimSpace(name))
		}
		b, err := io.ReadAll(part)
		if err != nil {
			return nil, fmt.Errorf("part %s: %w", name, err)
		}
		if len(b) > 0 {
			files[name] = b
		}
	}
}
