// Package audit writes and verifies the broker's audit trail: one JSON line
// per request, saying who asked (the authenticated identity), what for (the
// caller's stated purpose), which secret names were tried and which one
// served, the policy decision and the outcome. It never holds a secret
// value: Entry has no field for one.
//
// The lines form a hash chain, as Vault's audit devices hash their entries,
// so that an edited, inserted, deleted or reordered line, or a missing
// rotated file, is detected by Verify (or by "secretbroker audit verify").
// A Log returns every write error to its caller; whether a request fails
// when its entry cannot be written (fail closed) is the broker's decision.
//
// # Line format
//
// A file is a sequence of lines, each ending with a line feed (0x0A); the
// last byte of a complete file is a line feed. Each line is one JSON object
// (UTF-8, no insignificant whitespace, no raw control characters) built as
// follows, where + joins byte strings:
//
//	L    = B + `,"seq":` + SEQ + `,"prev":"` + PREV + `"`
//	HASH = lowercase hex of SHA-256(L)
//	line = L + `,"hash":"` + HASH + `"}` + "\n"
//
// B is the start of the object: `{` and one or more members separated by
// commas, without the closing brace. SEQ is the line's sequence number in
// decimal without leading zeros (a uint64). PREV is the HASH of the line
// before it in the chain, 64 lowercase hexadecimal digits. So the last 75
// bytes of a line before its line feed are always `,"hash":"`, 64 hex
// digits and `"}`, and L is everything before them: a verifier needs no
// JSON canonicalisation, it hashes the bytes as they are.
//
// There are two kinds of line:
//
//   - An anchor starts with `{"type":"anchor",` and has the members type,
//     reason ("open": a writer started; "reopen": it reopened its file,
//     after log rotation), time, seq, prev and hash. A writer writes an
//     anchor every time it opens or reopens its file, so the first line of
//     every file is an anchor, and an anchor inside a file marks a restart.
//   - An entry has no member "type". Its members are those of Entry, in
//     the order of its fields, then seq, prev and hash.
//
// The chain: every line's seq is the previous line's seq + 1 and its prev
// is the previous line's hash, across files too (the first line of a
// rotated file, an anchor, chains to the last line of the file before it).
// The very first line of a chain is an anchor with seq 0 and a prev of 64
// zeros (the genesis). When a writer opens a file that already has lines,
// it reads the last line and continues its chain.
//
// # Verifying
//
// To verify files, oldest first (audit.log.2, audit.log.1, audit.log):
//
//  1. Split each file at line feeds; a file whose last byte is not a line
//     feed ends with an incomplete line (a break). Empty files are skipped.
//  2. For each line: check the 75-byte suffix and that SHA-256 of the
//     bytes before it is the HASH it holds (else the line was edited);
//     read SEQ and PREV from the end of L; check that the line is a JSON
//     object.
//  3. The first line of every file must be an anchor.
//  4. The first line of the first file starts the verification: its seq
//     and prev are taken as they are (older files may have been deleted by
//     retention); if its seq is 0, its prev must be 64 zeros. Every later
//     line must have seq = previous seq + 1 (a larger seq means lines were
//     deleted; a smaller one, a line inserted or lines reordered) and prev =
//     previous line's hash (else a line was replaced or inserted). A
//     genesis anchor (seq 0) after the first line is a break: the chain
//     restarted, and files before it cannot be tied to it.
//
// The chain cannot tell that lines were cut from the end of the newest
// file, nor stop someone who rewrites every line after an edit with fresh
// hashes: compare the last seq and hash that Verify reports with a
// checkpoint kept elsewhere (Log.Head, exported by the daemon's health).
//
// # Rotation
//
// Rotate with a tool that moves the file and then tells the daemon to
// reopen it (logrotate's create or nocreate with a postrotate SIGHUP, which
// calls Log.Reopen): the new file starts with an anchor that chains to the
// moved file's last line. Do not use copytruncate: the truncated file would
// not start with an anchor.
package audit

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// Entry is the audit record of one request. It holds names, codes and
// decisions, never a secret value. Fields with an empty value are left out
// of the line, except those marked "always".
type Entry struct {
	// Time is when the request started; the Log's clock when zero. It is
	// written in UTC as RFC 3339 with nanoseconds (always).
	Time time.Time `json:"time"`
	// Identity is the authenticated principal's ID, "" when the caller
	// could not be authenticated (always).
	Identity string `json:"identity"`
	// AuthMethod is how the principal was authenticated: mtls, token,
	// unix or internal.
	AuthMethod string `json:"auth_method,omitempty"`
	// Purpose is the free text the caller stated (CyberArk's Reason, the
	// x-secretbroker-purpose header). It is a label, never an identity.
	Purpose string `json:"purpose,omitempty"`
	// Operation is the policy operation: autologin, credential, resolve,
	// list, write, check or admin (always).
	Operation string `json:"operation"`
	// Locker is the locker asked for.
	Locker string `json:"locker,omitempty"`
	// Credential is the credential asked for in the locker.
	Credential string `json:"credential,omitempty"`
	// Username is the Control Room username asked for.
	Username string `json:"username,omitempty"`
	// Tried lists the secrets tried, in order, each as "SCOPE name @provider",
	// such as "USER demo_erp_ABCD--user123 @store".
	Tried []string `json:"tried,omitempty"`
	// Served is the name of the secret that was served.
	Served string `json:"served,omitempty"`
	// Provider is the provider that served it.
	Provider string `json:"provider,omitempty"`
	// Place is the index of the locker's place that served (0 is the first;
	// more means the locker failed over). It is written when Served is set.
	Place int `json:"place,omitempty"`
	// Scope is the scope of the served secret: USER, SYSTEM or AUTO_LOGIN.
	Scope string `json:"scope,omitempty"`
	// Stale is set when a cached value past its time to live was served
	// because the vault could not be reached.
	Stale bool `json:"stale,omitempty"`
	// Cache is "hit", "miss" or "bypass" when a cache was involved.
	Cache string `json:"cache,omitempty"`
	// Decision is the policy decision: allowed, denied, limited, or none
	// when the request failed before it was decided (always).
	Decision string `json:"decision"`
	// Rule names the policy rule that decided.
	Rule string `json:"rule,omitempty"`
	// Code is the outcome code's name, such as OK or NotFound (always).
	Code string `json:"code"`
	// LatencyMS is the time the request took, in milliseconds (always). It
	// must be a finite number.
	LatencyMS float64 `json:"latency_ms"`
	// Error is the caller-safe message of a failed request.
	Error string `json:"error,omitempty"`
}

// errNotFinite is the error of an entry whose LatencyMS is NaN or infinite.
var errNotFinite = errors.New("latency_ms is not a finite number")

// MarshalJSON returns e as one JSON object, as a Log writes it before the
// chain members; a zero Time is written as the zero time.
func (e Entry) MarshalJSON() ([]byte, error) {
	b, err := e.appendBody(make([]byte, 0, 512), time.Time{})
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	return append(b, '}'), nil
}

// appendBody appends B, the object's start without its closing brace, to
// b: the members of e in field order. now stands in for a zero Time.
//
// It is written by hand rather than with encoding/json because it runs on
// every request: see BenchmarkEntryJSON. TestEntryMatchesEncodingJSON
// checks that it writes what encoding/json writes.
func (e *Entry) appendBody(b []byte, now time.Time) ([]byte, error) {
	if math.IsNaN(e.LatencyMS) || math.IsInf(e.LatencyMS, 0) {
		return b, errNotFinite
	}
	t := e.Time
	if t.IsZero() {
		t = now
	}
	b = append(b, `{"time":"`...)
	b = t.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","identity":`...)
	b = appendString(b, e.Identity)
	b = appendMember(b, "auth_method", e.AuthMethod)
	b = appendMember(b, "purpose", e.Purpose)
	b = append(b, `,"operation":`...)
	b = appendString(b, e.Operation)
	b = appendMember(b, "locker", e.Locker)
	b = appendMember(b, "credential", e.Credential)
	b = appendMember(b, "username", e.Username)
	if len(e.Tried) > 0 {
		b = append(b, `,"tried":[`...)
		for i, s := range e.Tried {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, s)
		}
		b = append(b, ']')
	}
	b = appendMember(b, "served", e.Served)
	b = appendMember(b, "provider", e.Provider)
	if e.Served != "" {
		b = append(b, `,"place":`...)
		b = strconv.AppendInt(b, int64(e.Place), 10)
	}
	b = appendMember(b, "scope", e.Scope)
	if e.Stale {
		b = append(b, `,"stale":true`...)
	}
	b = appendMember(b, "cache", e.Cache)
	b = append(b, `,"decision":`...)
	b = appendString(b, e.Decision)
	b = appendMember(b, "rule", e.Rule)
	b = append(b, `,"code":`...)
	b = appendString(b, e.Code)
	b = append(b, `,"latency_ms":`...)
	b = appendFloat(b, e.LatencyMS)
	b = appendMember(b, "error", e.Error)
	return b, nil
}

// appendMember appends `,"key":"value"` unless value is empty.
func appendMember(b []byte, key, value string) []byte {
	if value == "" {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return appendString(b, value)
}

// appendFloat appends f as encoding/json writes a float64. f is finite.
func appendFloat(b []byte, f float64) []byte {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// Like encoding/json: 1e-07, not 1e-7's longer form.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string, escaped as encoding/json does
// without HTML escaping: `"`, `\` and control characters are escaped,
// invalid UTF-8 becomes U+FFFD, and U+2028 and U+2029 are escaped so the
// line is also valid JavaScript.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
