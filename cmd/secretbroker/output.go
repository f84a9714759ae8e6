package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// stickyWriter remembers the first write error, so that a command's output
// code need not check every write; run reports it once at the end.
type stickyWriter struct {
	w   io.Writer
	err error
}

func (s *stickyWriter) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	n, err := s.w.Write(p)
	s.err = err
	return n, err
}

// unprintable reports whether r would break a line of output or move the
// terminal's cursor: a control character, or a line or paragraph separator.
func unprintable(r rune) bool {
	return unicode.IsControl(r) || r == '\u2028' || r == '\u2029'
}

// plain returns s unchanged when it prints on one line as itself, otherwise
// Go-quoted (control characters, invalid UTF-8).
func plain(s string) string {
	if utf8.ValidString(s) && !strings.ContainsFunc(s, unprintable) {
		return s
	}
	return strconv.Quote(s)
}

// quote returns s in double quotes, escaping only where it must: `"` and
// characters that plain would quote. A backslash stays one backslash, so
// `ABCD\user123` reads as an administrator types it.
func quote(s string) string {
	if utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool { return r == '"' || unprintable(r) }) {
		return `"` + s + `"`
	}
	return strconv.Quote(s)
}

// oneLine makes s safe to print as one line: control characters become
// spaces and invalid UTF-8 becomes U+FFFD.
func oneLine(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Map(func(r rune) rune {
		if unprintable(r) {
			return ' '
		}
		return r
	}, s)
}

// secretWords are the parts of an attribute key that make its value
// password-like: masked in text output unless -reveal is given.
var secretWords = [...]string{"password", "passwd", "passphrase", "pwd", "secret", "token", "key"}

// sensitive reports whether the value of attribute key is password-like.
func sensitive(key string) bool {
	k := strings.ToLower(key)
	for _, w := range secretWords {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}

// mask is what text output shows instead of a password-like value.
const mask = "********"

// writeJSON writes v to w as indented JSON, HTML characters unescaped.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// writeProto writes m to w as protojson with the .proto field names, every
// field present, indented in a stable way (protojson's own whitespace is
// deliberately unstable).
func writeProto(w io.Writer, m proto.Message) error {
	b, err := protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true}.Marshal(m)
	if err != nil {
		return fmt.Errorf("encoding the response as JSON: %w", err)
	}
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		return fmt.Errorf("encoding the response as JSON: %w", err)
	}
	out.WriteByte('\n')
	_, err = w.Write(out.Bytes())
	return err
}
