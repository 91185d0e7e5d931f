package session

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Values kept under a session key in Redis. A live session is stored in the
// binary layout below, which starts with codecVersion; the markers are
// single ASCII bytes so they can never be mistaken for one.
const (
	// tombstone marks a revoked session. Revocation writes it unconditionally
	// (plain SET), and every cache fill uses NX, so no racing fill can
	// replace it.
	tombstone = "R"
	// absent marks a well-formed token that no session has, so repeated
	// guesses do not reach the store. It lives for Options.NegativeTTL.
	absent = "N"
	// codecVersion starts every encoded session.
	codecVersion = 0x01
)

// encodeSession lays out a session as: version byte, then uvarint-length-
// prefixed id and user id, varint created/last-seen/expires (Unix ms) and
// idle timeout (ms), a uvarint metadata count and that many length-prefixed
// key/value pairs. Decoding it costs a fraction of JSON, which matters on
// every Redis hit.
func encodeSession(s *Session) ([]byte, error) {
	n := 1 + 5*binary.MaxVarintLen64 + 2*binary.MaxVarintLen32 + len(s.ID) + len(s.UserID)
	for k, v := range s.Metadata {
		n += 2*binary.MaxVarintLen32 + len(k) + len(v)
	}
	b := make([]byte, 0, n)
	b = append(b, codecVersion)
	b = appendString(b, s.ID)
	b = appendString(b, s.UserID)
	b = binary.AppendVarint(b, s.CreatedAt.UnixMilli())
	b = binary.AppendVarint(b, s.LastSeenAt.UnixMilli())
	b = binary.AppendVarint(b, s.ExpiresAt.UnixMilli())
	b = binary.AppendVarint(b, s.IdleTimeout.Milliseconds())
	b = binary.AppendUvarint(b, uint64(len(s.Metadata)))
	for k, v := range s.Metadata {
		b = appendString(b, k)
		b = appendString(b, v)
	}
	return b, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

var errCorrupt = errors.New("decode cached session: corrupt value")

// decodeCached turns a Redis value into a session or the error it stands
// for (ErrRevoked for a tombstone, ErrNotFound for the absent marker).
func decodeCached(v string) (Session, error) {
	switch v {
	case tombstone:
		return Session{}, ErrRevoked
	case absent:
		return Session{}, ErrNotFound
	}
	if len(v) == 0 || v[0] != codecVersion {
		return Session{}, fmt.Errorf("decode cached session: unknown layout")
	}
	d := decoder{s: v, i: 1}
	var s Session
	s.ID = d.str()
	s.UserID = d.str()
	s.CreatedAt = time.UnixMilli(d.varint()).UTC()
	s.LastSeenAt = time.UnixMilli(d.varint()).UTC()
	s.ExpiresAt = time.UnixMilli(d.varint()).UTC()
	s.IdleTimeout = time.Duration(d.varint()) * time.Millisecond
	if n := d.uvarint(); n > 0 && !d.bad {
		if n > MaxMetadataEntries {
			return Session{}, errCorrupt
		}
		s.Metadata = make(map[string]string, n)
		for range n {
			k := d.str()
			s.Metadata[k] = d.str()
		}
	}
	if d.bad || d.i != len(v) || s.ID == "" || s.ExpiresAt.IsZero() {
		return Session{}, errCorrupt
	}
	return s, nil
}

// decoder reads the layout from a string without copying it to a []byte;
// any overrun sets bad and yields zero values.
type decoder struct {
	s   string
	i   int
	bad bool
}

func (d *decoder) uvarint() uint64 {
	var x uint64
	for shift := 0; shift < 64; shift += 7 {
		if d.i >= len(d.s) {
			d.bad = true
			return 0
		}
		c := d.s[d.i]
		d.i++
		x |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return x
		}
	}
	d.bad = true
	return 0
}

func (d *decoder) varint() int64 {
	u := d.uvarint()
	return int64(u>>1) ^ -int64(u&1)
}

func (d *decoder) str() string {
	n := d.uvarint()
	if d.bad || n > uint64(len(d.s)-d.i) {
		d.bad = true
		return ""
	}
	s := d.s[d.i : d.i+int(n)]
	d.i += int(n)
	return s
}
