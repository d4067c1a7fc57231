package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// The one reader of JSON request bodies. The guard reads a body's site
// with it and the handlers their fields with it, so both see the same
// object: exactly one JSON value, nothing but white space after it (a
// second object, a stray byte or bracket is refused with 400; encoding's
// Decoder would stop at the first object and leave the rest unread, which
// once let the guard see no site while the handler acted on the body's).

// maxBody is a JSON body's size limit unless a route says otherwise.
const maxBody = 64 << 10

// errTrailing is the answer to bytes after the body's JSON value.
var errTrailing = errors.New("one JSON value only: data follows it")

// parseJSON decodes data, which must hold exactly one JSON value, into
// into. strict refuses fields into lacks.
func parseJSON(data []byte, into any, strict bool) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(into); err != nil {
		return err
	}
	if len(bytes.TrimLeft(data[dec.InputOffset():], " \t\r\n")) != 0 {
		return errTrailing
	}
	return nil
}

// bodyBytes reads r's body (limit bytes at most) and puts it back, so
// that the guard and then the handler can both read it.
func bodyBytes(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	r.Body = io.NopCloser(bytes.NewReader(data))
	return data, err
}

// readBody reads r's JSON body into into with parseJSON (unknown fields
// refused), limit bytes at most; io.EOF when it is empty.
func readBody(w http.ResponseWriter, r *http.Request, limit int64, into any) error {
	data, err := bodyBytes(w, r, limit)
	if err != nil {
		return err
	}
	return parseJSON(data, into, true)
}

// decode reads r's JSON body into into, answering 400 when it cannot.
func decode(w http.ResponseWriter, r *http.Request, into any) bool {
	if err := readBody(w, r, maxBody, into); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("body: %w", err))
		return false
	}
	return true
}
