package geoip_test

import (
	"testing"

	"footfall/internal/geoip"
	"footfall/internal/geoip/geoiptest"
)

func TestCountry(t *testing.T) {
	path, err := geoiptest.WriteTestDB(t.TempDir(), map[string]string{"81.2.69.0/24": "GB", "2a02:8100::/32": "DE", "127.0.0.0/8": "FR"})
	if err != nil {
		t.Fatal(err)
	}
	db, err := geoip.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for ip, want := range map[string]string{
		"81.2.69.142": "GB", "81.2.69.0": "GB", "2a02:8100:1::": "DE", "127.0.0.1": "FR", "::ffff:81.2.69.1": "GB",
		"8.8.8.8": "", "not an address": "", "": "",
	} {
		if got := db.Country(ip); got != want {
			t.Errorf("%q: %q, want %q", ip, got, want)
		}
	}
	if _, err := geoip.Open(t.TempDir() + "/missing.mmdb"); err == nil {
		t.Error("a missing file opened")
	}
}
