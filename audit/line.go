package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
)

// MaxLineSize is the largest line, line feed included, that a Log writes
// and Verify reads.
const MaxLineSize = 1 << 20

const (
	// hashHexLen is the length of a hash in hex.
	hashHexLen = 2 * sha256.Size
	// hashKey starts the hash member, the last of every line.
	hashKey = `,"hash":"`
	// suffixLen is the length of `,"hash":"<64 hex>"}`.
	suffixLen = len(hashKey) + hashHexLen + len(`"}`)
	// seqKey and prevKey start the seq and prev members.
	seqKey  = `,"seq":`
	prevKey = `,"prev":"`
	// anchorPrefix starts every anchor line.
	anchorPrefix = `{"type":"anchor",`
)

// zeroHash is the prev of the genesis anchor.
var zeroHash = [hashHexLen]byte{
	'0', '0', '0', '0', '0', '0', '0', '0', '0', '0', '0', '0', '0', '0', '0', '0',
	'0', '0', '0', '0', '0', '0', '0', '0', '0', '0', '0', '0', '0', '0', '0', '0',
	'0', '0', '0', '0', '0', '0', '0', '0', '0', '0', '0', '0', '0', '0', '0', '0',
	'0', '0', '0', '0', '0', '0', '0', '0', '0', '0', '0', '0', '0', '0', '0', '0',
}

// appendChain appends the chain members and the hash to body (B in the
// package comment) and returns the line with its line feed.
func appendChain(body []byte, seq uint64, prev *[hashHexLen]byte) (line []byte, hash [hashHexLen]byte) {
	b := append(body, seqKey...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, prevKey...)
	b = append(b, prev[:]...)
	b = append(b, '"')
	sum := sha256.Sum256(b)
	hex.Encode(hash[:], sum[:])
	b = append(b, hashKey...)
	b = append(b, hash[:]...)
	b = append(b, '"', '}', '\n')
	return b, hash
}

// lineInfo is what the chain needs from a line.
type lineInfo struct {
	seq    uint64
	prev   [hashHexLen]byte
	hash   [hashHexLen]byte
	anchor bool
}

// lineError is a line that is not a well-formed, unedited audit line.
type lineError struct {
	kind   BreakKind
	reason string
}

// parseLine checks line (without its line feed) as the package comment
// says: its suffix, its hash, seq and prev at the end of L, and JSON.
func parseLine(line []byte) (lineInfo, *lineError) {
	var li lineInfo
	n := len(line)
	if n < suffixLen+1 || !bytes.Equal(line[n-suffixLen:n-suffixLen+len(hashKey)], []byte(hashKey)) ||
		line[n-2] != '"' || line[n-1] != '}' || line[0] != '{' {
		return li, &lineError{KindMalformed, `not an audit line: it must start with "{" and end with the hash member`}
	}
	if !isLowerHex(line[n-2-hashHexLen : n-2]) {
		return li, &lineError{KindMalformed, "the hash is not 64 lowercase hexadecimal digits"}
	}
	copy(li.hash[:], line[n-2-hashHexLen:n-2])
	body := line[:n-suffixLen]
	sum := sha256.Sum256(body)
	var got [hashHexLen]byte
	hex.Encode(got[:], sum[:])
	if got != li.hash {
		return li, &lineError{KindEdited, "hash mismatch: the line was edited"}
	}
	// L ends with ,"seq":SEQ,"prev":"PREV"
	m := len(body)
	if m < len(prevKey)+hashHexLen+1 || body[m-1] != '"' ||
		!bytes.Equal(body[m-1-hashHexLen-len(prevKey):m-1-hashHexLen], []byte(prevKey)) ||
		!isLowerHex(body[m-1-hashHexLen:m-1]) {
		return li, &lineError{KindMalformed, "no prev member before the hash"}
	}
	copy(li.prev[:], body[m-1-hashHexLen:m-1])
	rest := body[:m-1-hashHexLen-len(prevKey)]
	i := bytes.LastIndex(rest, []byte(seqKey))
	if i < 0 {
		return li, &lineError{KindMalformed, "no seq member before prev"}
	}
	digits := rest[i+len(seqKey):]
	seq, err := strconv.ParseUint(string(digits), 10, 64)
	if err != nil || (len(digits) > 1 && digits[0] == '0') {
		return li, &lineError{KindMalformed, fmt.Sprintf("seq %q is not a decimal number", digits)}
	}
	li.seq = seq
	if !json.Valid(line) {
		return li, &lineError{KindMalformed, "not a valid JSON object"}
	}
	li.anchor = bytes.HasPrefix(line, []byte(anchorPrefix))
	if li.anchor && li.seq == 0 && li.prev != zeroHash {
		return li, &lineError{KindAnchor, "a genesis anchor (seq 0) must have a prev of 64 zeros"}
	}
	return li, nil
}

// isLowerHex reports whether b is all lowercase hexadecimal digits.
func isLowerHex(b []byte) bool {
	for _, c := range b {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
