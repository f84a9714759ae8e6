package embedded

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/secretbroker/secretbroker/providers"
)

const (
	// formatVersion is the store format this build writes and reads: the
	// meta "format" value and the first byte of every sealed value.
	formatVersion byte = 1
	nonceSize          = 12
	tagSize            = 16
	// maxKeySize is bbolt's limit on a key's length.
	maxKeySize = 32768
	// keyCheckText is the known plaintext of the key check.
	keyCheckText = "secretbroker embedded store key check v1"
)

var (
	bucketMeta    = []byte("meta")
	bucketSecrets = []byte("secrets")
	metaFormat    = []byte("format")
	metaKeyCheck  = []byte("keycheck")
	// keyCheckAAD is the key check's additional data: the format byte and 'k'
	// (records use 'r', so a record can never pass for the key check).
	keyCheckAAD = []byte{formatVersion, 'k'}
)

// record is the plaintext of one secret.
type record struct {
	version uint64
	updated time.Time
	attrs   map[string]string
}

// newAEAD returns AES-256-GCM with the standard 12-byte nonce for key.
func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// recordKey returns the bbolt key of ref: Location, NUL, Name.
func recordKey(ref providers.Ref) ([]byte, error) {
	switch {
	case ref.Name == "":
		return nil, providers.Errorf(providers.InvalidArgument, ErrInvalidRef, "secret name is empty")
	case strings.IndexByte(ref.Location, 0) >= 0:
		return nil, providers.Errorf(providers.InvalidArgument, ErrInvalidRef, "location contains a NUL byte")
	case len(ref.Location)+1+len(ref.Name) > maxKeySize:
		return nil, providers.Errorf(providers.InvalidArgument, ErrInvalidRef,
			"location and name are longer than the embedded store allows (%d bytes)", maxKeySize-1)
	}
	k := make([]byte, 0, len(ref.Location)+1+len(ref.Name))
	k = append(k, ref.Location...)
	k = append(k, 0)
	return append(k, ref.Name...), nil
}

// recordAAD is the additional authenticated data of the record at key.
func recordAAD(key []byte) []byte {
	return append([]byte{formatVersion, 'r'}, key...)
}

// seal encrypts plain with a fresh random nonce:
// format byte | nonce | ciphertext and tag.
func seal(aead cipher.AEAD, aad, plain []byte) []byte {
	out := make([]byte, 1+nonceSize, 1+nonceSize+len(plain)+tagSize)
	out[0] = formatVersion
	rand.Read(out[1 : 1+nonceSize]) // never fails: crypto/rand crashes the program instead
	return aead.Seal(out, out[1:1+nonceSize], plain, aad)
}

// errFormat marks a sealed value whose format byte this build does not read.
var errFormat = fmt.Errorf("record: %w", ErrUnsupportedFormat)

// unseal checks and decrypts a value made by seal. It returns errFormat for
// an unknown format byte and ErrAuthentication when the value does not
// authenticate under aad.
func unseal(aead cipher.AEAD, aad, sealed []byte) ([]byte, error) {
	if len(sealed) < 1+nonceSize+tagSize {
		return nil, ErrAuthentication
	}
	if sealed[0] != formatVersion {
		return nil, errFormat
	}
	plain, err := aead.Open(nil, sealed[1:1+nonceSize], sealed[1+nonceSize:], aad)
	if err != nil {
		return nil, ErrAuthentication
	}
	return plain, nil
}

// encodeRecord returns the binary plaintext of r (see the package comment).
func encodeRecord(r record) []byte {
	names := make([]string, 0, len(r.attrs))
	size := 3 * binary.MaxVarintLen64
	for k, v := range r.attrs {
		names = append(names, k)
		size += 2*binary.MaxVarintLen64 + len(k) + len(v)
	}
	slices.Sort(names)
	b := make([]byte, 0, size)
	b = binary.AppendUvarint(b, r.version)
	b = binary.AppendVarint(b, r.updated.UnixNano())
	b = binary.AppendUvarint(b, uint64(len(names)))
	for _, k := range names {
		v := r.attrs[k]
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
		b = binary.AppendUvarint(b, uint64(len(v)))
		b = append(b, v...)
	}
	return b
}

var errMalformed = errors.New("malformed record plaintext")

// decodeRecord parses encodeRecord's output strictly. The strings it returns
// are copies, so the caller may clear b.
func decodeRecord(b []byte) (record, error) {
	var r record
	version, n := binary.Uvarint(b)
	if n <= 0 || version == 0 {
		return r, errMalformed
	}
	b = b[n:]
	nanos, n := binary.Varint(b)
	if n <= 0 {
		return r, errMalformed
	}
	b = b[n:]
	count, n := binary.Uvarint(b)
	// Each attribute takes at least two bytes (two zero lengths).
	if n <= 0 || count > uint64(len(b)-n)/2 {
		return r, errMalformed
	}
	b = b[n:]
	attrs := make(map[string]string, count)
	next := func() (string, bool) {
		l, n := binary.Uvarint(b)
		if n <= 0 || l > uint64(len(b)-n) {
			return "", false
		}
		s := string(b[n : n+int(l)])
		b = b[n+int(l):]
		return s, true
	}
	for i := uint64(0); i < count; i++ {
		k, ok := next()
		if !ok {
			return r, errMalformed
		}
		v, ok := next()
		if !ok {
			return r, errMalformed
		}
		if _, dup := attrs[k]; dup {
			return r, errMalformed
		}
		attrs[k] = v
	}
	if len(b) != 0 {
		return r, errMalformed
	}
	r.version = version
	r.updated = time.Unix(0, nanos).UTC()
	r.attrs = attrs
	return r, nil
}
