// Package geoiptest writes small GeoIP databases for tests.
package geoiptest

import (
	"net"
	"os"
	"path/filepath"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// WriteTestDB writes, into dir, a small database that puts each network
// (CIDR) in the country given, loopback included; for tests that need a
// real file to open. It returns the file's path.
func WriteTestDB(dir string, countries map[string]string) (string, error) {
	tree, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: "Footfall-Test-Country", IncludeReservedNetworks: true, RecordSize: 24})
	if err != nil {
		return "", err
	}
	for cidr, code := range countries {
		_, network, err := net.ParseCIDR(cidr)
		if err != nil {
			return "", err
		}
		value := mmdbtype.Map{"country": mmdbtype.Map{"iso_code": mmdbtype.String(code)}}
		if err := tree.Insert(network, value); err != nil {
			return "", err
		}
	}
	path := filepath.Join(dir, "countries.mmdb")
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	if _, err := tree.WriteTo(f); err != nil {
		f.Close()
		return "", err
	}
	return path, f.Close()
}
