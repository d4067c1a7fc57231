// Package geoip finds the country of a client address in an offline
// MaxMind-format database (GeoLite2-Country or -City, DB-IP Lite, ...), for
// the reports' country breakdown. Nothing is looked up over the network.
package geoip

import (
	"fmt"
	"net/netip"

	"github.com/oschwald/maxminddb-golang/v2"
)

// DB is an open database; it is safe for concurrent use.
type DB struct {
	r *maxminddb.Reader
}

// Open opens the .mmdb file at path.
func Open(path string) (*DB, error) {
	r, err := maxminddb.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open geoip database %s: %w", path, err)
	}
	return &DB{r: r}, nil
}

// Close releases the database.
func (db *DB) Close() error { return db.r.Close() }

// Country returns the ISO 3166 code of the country ip is in, or "" when the
// address does not parse or the database does not know it. Addresses the
// collector anonymised (last octet zero) resolve as well: databases are
// made of networks far wider than one address.
func (db *DB) Country(ip string) string {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return ""
	}
	var code string
	if err := db.r.Lookup(addr.Unmap()).DecodePath(&code, "country", "iso_code"); err != nil {
		return ""
	}
	return code
}
