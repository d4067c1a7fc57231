// Package sdkjs exposes the built website snippet so the collector can serve
// it at /t.js without a CDN (go:embed cannot reach outside its directory).
package sdkjs

import _ "embed"

// Script is dist/t.js.
//
//go:embed dist/t.js
var Script []byte
