package session

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/crc32"
)

// Token layout: TokenPrefix, then a 32-byte body as unpadded base64url (43
// characters), then a CRC-32C checksum of everything before it as unpadded
// base64url (6 characters). The checksum lets Parse refuse typos and garbage
// without any I/O; it is not a secret and gives no security by itself.
//
// The body is 24 random bytes (192 bits) followed by an 8-byte tag: the
// SipHash-2-4 of those 24 bytes under the store's TokenKey, little-endian.
// The tag lets a Service refuse a token it never issued without any I/O
// (see "Token tags" in the package documentation). Tokens made before the
// store had a key have 32 random bytes: nothing in their shape tells them
// apart.
const (
	// TokenPrefix starts every session token, so leaked tokens are easy to
	// find with secret scanners.
	TokenPrefix   = "stu_"
	tokenRandLen  = 32 // the body's bytes
	tokenNonceLen = 24 // the random part of a tagged body
	tokenTagLen   = tokenRandLen - tokenNonceLen
	tokenBodyLen  = 43 // base64.RawURLEncoding.EncodedLen(32)
	tokenSumLen   = 6  // base64.RawURLEncoding.EncodedLen(4)
	// TokenLen is the exact length of every valid token.
	TokenLen = len(TokenPrefix) + tokenBodyLen + tokenSumLen
)

var (
	crcTable = crc32.MakeTable(crc32.Castagnoli)
	// strictB64 refuses non-canonical encodings, so each token has exactly
	// one spelling. (Strict returns a copy: make it once.)
	strictB64 = base64.RawURLEncoding.Strict()
)

// Token is a raw session token. Its String and GoString methods never reveal
// it, so a Token that reaches a log by mistake prints as a placeholder; use
// Reveal to get the text to hand to the client.
type Token string

// String returns a placeholder, never the token.
func (Token) String() string { return "stu_[REDACTED]" }

// GoString returns a placeholder, never the token.
func (Token) GoString() string { return "stu_[REDACTED]" }

// Reveal returns the token text. Call it only to answer the client that
// created the session.
func (t Token) Reveal() string { return string(t) }

// TokenHash is the SHA-256 of a token: the only form in which a token is
// stored or used as a key.
type TokenHash [sha256.Size]byte

// Hex returns the lower-case hex encoding of the hash.
func (h TokenHash) Hex() string { return hex.EncodeToString(h[:]) }

// ParseTokenHash decodes a 64-character hex string made by Hex.
func ParseTokenHash(s string) (TokenHash, error) {
	var h TokenHash
	if len(s) != hex.EncodedLen(len(h)) {
		return h, fmt.Errorf("token hash: want %d hex characters, got %d", hex.EncodedLen(len(h)), len(s))
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return h, fmt.Errorf("token hash: %w", err)
	}
	return h, nil
}

// TokenKey is the key of the tags in tokens: 16 random bytes, shared by
// every Service on one store (Store.TokenTags). It is a secret only in the
// sense that whoever has it can make tokens whose tag passes; such tokens
// still name no session.
type TokenKey [16]byte

// String returns a placeholder, never the key.
func (TokenKey) String() string { return "TokenKey[REDACTED]" }

// GoString returns a placeholder, never the key.
func (TokenKey) GoString() string { return "TokenKey[REDACTED]" }

// NewTokenKey returns a fresh random key. It fails only if the system's
// random source does.
func NewTokenKey() (TokenKey, error) {
	var k TokenKey
	if _, err := rand.Read(k[:]); err != nil {
		return k, fmt.Errorf("read random token key: %w", err)
	}
	return k, nil
}

// NewToken returns a fresh token tagged with k. Service.NewToken is the
// same with the store's key. It fails only if the system's random source
// does.
func (k TokenKey) NewToken() (Token, error) { return newTagger(k).newToken() }

// tagger makes and checks the tags of tokens under one TokenKey.
type tagger struct{ k0, k1 uint64 }

func newTagger(k TokenKey) tagger {
	return tagger{k0: binary.LittleEndian.Uint64(k[:8]), k1: binary.LittleEndian.Uint64(k[8:])}
}

// newToken returns a fresh token: 24 random bytes and their tag. It fails
// only if the system's random source does.
func (g tagger) newToken() (Token, error) {
	var nonce [tokenNonceLen]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return "", fmt.Errorf("read random token bytes: %w", err)
	}
	return g.token(nonce), nil
}

// token returns the token whose body is nonce and its tag.
func (g tagger) token(nonce [tokenNonceLen]byte) Token {
	var raw [tokenRandLen]byte
	copy(raw[:], nonce[:])
	binary.LittleEndian.PutUint64(raw[tokenNonceLen:], sipHash24(g.k0, g.k1, nonce[:]))
	return tokenFromBytes(raw)
}

// tagged reports whether the body's last 8 bytes are the tag of its first
// 24, comparing in constant time. It does not allocate.
func (g tagger) tagged(body *[tokenRandLen]byte) bool {
	var want [tokenTagLen]byte
	binary.LittleEndian.PutUint64(want[:], sipHash24(g.k0, g.k1, body[:tokenNonceLen]))
	return subtle.ConstantTimeCompare(want[:], body[tokenNonceLen:]) == 1
}

func tokenFromBytes(raw [tokenRandLen]byte) Token {
	buf := make([]byte, 0, TokenLen)
	buf = append(buf, TokenPrefix...)
	buf = base64.RawURLEncoding.AppendEncode(buf, raw[:])
	var sum [4]byte
	binary.BigEndian.PutUint32(sum[:], checksum(buf))
	buf = base64.RawURLEncoding.AppendEncode(buf, sum[:])
	return Token(buf)
}

// ParseToken checks the token's length, prefix, alphabet and checksum and
// returns its hash. Any failure is ErrMalformedToken (wrapped with the
// reason, never the token text). It does no I/O and does not allocate. It
// does not check the tag: only a Service, which has the key, can.
func ParseToken(s string) (TokenHash, error) {
	var body [tokenRandLen]byte
	return parseToken(s, &body)
}

// parseToken is ParseToken that also decodes the token's body into body.
func parseToken(s string, body *[tokenRandLen]byte) (TokenHash, error) {
	// Work on a stack copy so nothing below allocates.
	var b [TokenLen]byte
	if err := checkToken(s, &b, body); err != nil {
		return TokenHash{}, err
	}
	return sha256.Sum256(b[:]), nil
}

func checkToken(s string, b *[TokenLen]byte, body *[tokenRandLen]byte) error {
	if len(s) != TokenLen {
		return fmt.Errorf("%w: length %d, want %d", ErrMalformedToken, len(s), TokenLen)
	}
	if s[:len(TokenPrefix)] != TokenPrefix {
		return fmt.Errorf("%w: wrong prefix", ErrMalformedToken)
	}
	for i := len(TokenPrefix); i < len(s); i++ {
		if !isBase64URL(s[i]) {
			return fmt.Errorf("%w: invalid character at offset %d", ErrMalformedToken, i)
		}
	}
	copy(b[:], s)
	sumStart := len(TokenPrefix) + tokenBodyLen
	var sum [4]byte
	// The alphabet was checked above; a decode error here can only mean
	// non-canonical trailing bits.
	if _, err := strictB64.Decode(sum[:], b[sumStart:]); err != nil {
		return fmt.Errorf("%w: bad checksum encoding", ErrMalformedToken)
	}
	if _, err := strictB64.Decode(body[:], b[len(TokenPrefix):sumStart]); err != nil {
		return fmt.Errorf("%w: bad body encoding", ErrMalformedToken)
	}
	if checksum(b[:sumStart]) != binary.BigEndian.Uint32(sum[:]) {
		return fmt.Errorf("%w: checksum mismatch", ErrMalformedToken)
	}
	return nil
}

func isBase64URL(c byte) bool {
	return ('A' <= c && c <= 'Z') || ('a' <= c && c <= 'z') || ('0' <= c && c <= '9') || c == '-' || c == '_'
}

// checksum is CRC-32C, computed eight bytes at a time ("slicing-by-8"):
// crc32.Checksum dispatches through a function value, which makes its
// argument escape and would cost ParseToken a heap allocation; the plain
// byte-at-a-time table loop was a sixth of an L1 validation's CPU.
func checksum(p []byte) uint32 {
	crc := ^uint32(0)
	for len(p) >= 8 {
		crc ^= binary.LittleEndian.Uint32(p)
		hi := binary.LittleEndian.Uint32(p[4:])
		crc = crc8Table[7][byte(crc)] ^ crc8Table[6][byte(crc>>8)] ^
			crc8Table[5][byte(crc>>16)] ^ crc8Table[4][crc>>24] ^
			crc8Table[3][byte(hi)] ^ crc8Table[2][byte(hi>>8)] ^
			crc8Table[1][byte(hi>>16)] ^ crc8Table[0][hi>>24]
		p = p[8:]
	}
	for _, v := range p {
		crc = crc8Table[0][byte(crc)^v] ^ (crc >> 8)
	}
	return ^crc
}

// crc8Table[k][b] is the CRC-32C register after byte b followed by k zero
// bytes; crc8Table[0] is the usual byte-wise table.
var crc8Table = func() (t [8][256]uint32) {
	t[0] = *crcTable
	for b := range 256 {
		crc := t[0][b]
		for k := 1; k < 8; k++ {
			crc = t[0][byte(crc)] ^ (crc >> 8)
			t[k][b] = crc
		}
	}
	return t
}()
