package transform

import (
	"crypto/sha256"
	"encoding/binary"
	"hash"

	"github.com/cbarchive/cbarchive/callback"
)

// IdentityHash returns the sha256 (32 bytes) of the record's identity fields, in this order:
// Domain, App, Stream, CallbackEventType, CallbackTime, CallbackMethod, CallbackAddress,
// CallbackBody. Each field is written as its length in bytes (8-byte big-endian unsigned)
// followed by its bytes, so that field boundaries matter: ("ab", "c") and ("a", "bc") differ.
//
// It hashes the raw text as received, not parsed or sanitized values: re-normalizing a row
// with newer rules never changes its key. The response side (status, response code, headers,
// body, time, error fields) is not part of it, so a record whose response changed upstream
// keeps its identity and is updated in place.
func IdentityHash(rec *callback.Record) []byte {
	h := sha256.New()
	var buf [512]byte
	for _, s := range [...]string{
		rec.Domain, rec.App, rec.Stream, rec.CallbackEventType, rec.CallbackTime,
		rec.CallbackMethod, rec.CallbackAddress, rec.CallbackBody,
	} {
		writeField(h, &buf, s)
	}
	return h.Sum(make([]byte, 0, sha256.Size))
}

// ContentHash returns the sha256 (32 bytes) of all 15 fields as received, in the order of
// callback.FieldNames, each length-prefixed like in IdentityHash. Equal hashes mean the record
// did not change; the loader also orders records of equal identity by it.
func ContentHash(rec *callback.Record) []byte {
	h := sha256.New()
	var buf [512]byte
	for _, s := range rec.Fields() {
		writeField(h, &buf, s)
	}
	return h.Sum(make([]byte, 0, sha256.Size))
}

// writeField writes len(s) as 8 bytes big-endian, then s, copying through buf so that large
// bodies are hashed without allocating a []byte copy.
func writeField(h hash.Hash, buf *[512]byte, s string) {
	binary.BigEndian.PutUint64(buf[:8], uint64(len(s)))
	h.Write(buf[:8])
	for len(s) > 0 {
		n := copy(buf[:], s)
		h.Write(buf[:n])
		s = s[n:]
	}
}
