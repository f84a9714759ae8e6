package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"

	pb "github.com/secretbroker/secretbroker/proto/secretbroker/v1"
)

// maxFileValue is the largest file that key=@file reads.
const maxFileValue = 1 << 20

// valueSource says where the value of a put argument comes from.
type valueSource int

const (
	fromLiteral valueSource = iota // key=value
	fromFile                       // key=@file
	fromStdin                      // key=-
)

// assignment is one KEY=VALUE argument of put.
type assignment struct {
	key   string
	from  valueSource
	value string // the literal value, or the file name
}

// parseAssignments parses the KEY=VALUE arguments of put. It reads nothing
// yet, so that every usage error comes before stdin is read. Errors never
// repeat a value.
func parseAssignments(cmd string, args []string) ([]assignment, error) {
	if len(args) == 0 {
		return nil, usagef(cmd, "at least one KEY=VALUE attribute is required")
	}
	seen := make(map[string]bool, len(args))
	out := make([]assignment, 0, len(args))
	for i, arg := range args {
		k, v, ok := strings.Cut(arg, "=")
		switch {
		case strings.HasPrefix(arg, "-"):
			return nil, usagef(cmd, "argument %d looks like a flag: flags go before the KEY=VALUE attributes", i+1)
		case !ok:
			return nil, usagef(cmd, "argument %d is not KEY=VALUE (its text is not shown: it may be a secret)", i+1)
		case k == "":
			return nil, usagef(cmd, "argument %d has an empty key", i+1)
		case !utf8.ValidString(k) || strings.ContainsFunc(k, unprintable):
			return nil, usagef(cmd, "argument %d: the key %s must be valid UTF-8 without control characters", i+1, quote(k))
		case seen[k]:
			return nil, usagef(cmd, "attribute %s is given twice", quote(k))
		}
		seen[k] = true
		as := assignment{key: k, value: v}
		switch {
		case v == "-":
			as.from = fromStdin
		case strings.HasPrefix(v, "@"):
			as.from, as.value = fromFile, v[1:]
			if as.value == "" {
				return nil, usagef(cmd, "attribute %s: give a file name after @", quote(k))
			}
		}
		out = append(out, as)
	}
	return out, nil
}

// readValues reads the values of as into req: valid UTF-8 into
// req.Attributes, anything else into req.BinaryAttributes.
func (a *app) readValues(as []assignment, req *pb.PutCredentialRequest) error {
	req.Attributes = make(map[string]string, len(as))
	for _, as := range as {
		var v []byte
		var err error
		switch as.from {
		case fromLiteral:
			v = []byte(as.value)
		case fromFile:
			v, err = readValueFile(as.key, as.value)
		case fromStdin:
			v, err = a.readLine(as.key)
		}
		if err != nil {
			return err
		}
		if utf8.Valid(v) {
			req.Attributes[as.key] = string(v)
			continue
		}
		if req.BinaryAttributes == nil {
			req.BinaryAttributes = make(map[string][]byte)
		}
		req.BinaryAttributes[as.key] = v
	}
	return nil
}

// readValueFile returns the contents of the file name for attribute key, one
// trailing newline (\n or \r\n) removed when it is text. Binary contents are
// kept as they are.
func readValueFile(key, name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("attribute %s: %w", quote(key), err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFileValue+1))
	if err != nil {
		return nil, fmt.Errorf("attribute %s: reading %s: %w", quote(key), quote(name), err)
	}
	if len(b) > maxFileValue {
		return nil, fmt.Errorf("attribute %s: file %s is larger than %d bytes", quote(key), quote(name), maxFileValue)
	}
	if utf8.Valid(b) {
		b = trimNewline(b)
	}
	return b, nil
}

// trimNewline removes one trailing \n or \r\n.
func trimNewline(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
		if n := len(b); n > 0 && b[n-1] == '\r' {
			b = b[:n-1]
		}
	}
	return b
}

// readLine reads one line from stdin as the value of attribute key, without
// its line ending. On a terminal it prompts on stderr first.
func (a *app) readLine(key string) ([]byte, error) {
	if a.in == nil {
		a.in = bufio.NewReader(a.stdin)
	}
	if isTerminal(a.stdin) {
		fmt.Fprintf(a.stderr, "%s: ", plain(key))
	}
	line, err := a.in.ReadBytes('\n')
	switch {
	case errors.Is(err, io.EOF) && len(line) == 0:
		return nil, fmt.Errorf("attribute %s: no line left on standard input (%s=- reads one line)", quote(key), plain(key))
	case err != nil && !errors.Is(err, io.EOF):
		return nil, fmt.Errorf("attribute %s: reading standard input: %w", quote(key), err)
	}
	return trimNewline(line), nil
}

// isTerminal reports whether r is a terminal (a character device).
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
