package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// TokenHashPrefix starts every token hash in the configuration:
// "sha256:" followed by 64 hexadecimal digits.
const TokenHashPrefix = "sha256:"

// Token is one bearer token as the configuration holds it: the identity
// it authenticates and the SHA-256 of the token, never the token itself.
type Token struct {
	// Identity is the Principal ID a caller presenting the token gets.
	Identity string
	// SHA256 is the token's hash as HashToken writes it:
	// "sha256:<64 hex digits>".
	SHA256 string
}

// TokenSet authenticates bearer tokens against the hashes in the
// configuration. Its zero value and a nil *TokenSet know no token.
type TokenSet struct {
	entries []tokenEntry
}

type tokenEntry struct {
	identity string
	sum      [sha256.Size]byte
}

// NewTokenSet checks every entry (hash format, duplicate hash, empty
// identity) and reports all problems at once, each named by its index.
// Several tokens may name the same identity (rotation).
func NewTokenSet(entries []Token) (*TokenSet, error) {
	var errs []error
	seen := make(map[[sha256.Size]byte]int, len(entries))
	ts := &TokenSet{entries: make([]tokenEntry, 0, len(entries))}
	for i, e := range entries {
		if strings.TrimSpace(e.Identity) == "" {
			errs = append(errs, fmt.Errorf("tokens[%d]: identity is empty (name the caller the token authenticates)", i))
		}
		sum, err := parseTokenHash(e.SHA256)
		if err != nil {
			errs = append(errs, fmt.Errorf("tokens[%d] (%s): %w", i, e.Identity, err))
			continue
		}
		if j, dup := seen[sum]; dup {
			errs = append(errs, fmt.Errorf("tokens[%d] (%s): same hash as tokens[%d] (give each caller its own token)", i, e.Identity, j))
			continue
		}
		seen[sum] = i
		ts.entries = append(ts.entries, tokenEntry{identity: e.Identity, sum: sum})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return ts, nil
}

// parseTokenHash decodes "sha256:<64 hex>". Its errors never quote the
// value: a plain token pasted by mistake must not reach a log.
func parseTokenHash(s string) ([sha256.Size]byte, error) {
	var sum [sha256.Size]byte
	hexPart, ok := strings.CutPrefix(s, TokenHashPrefix)
	if !ok {
		return sum, fmt.Errorf("hash must start with %q (store HashToken(token), never the token itself)", TokenHashPrefix)
	}
	if len(hexPart) != 2*sha256.Size {
		return sum, fmt.Errorf("hash must be %q and %d hexadecimal digits, got %d characters after the prefix", TokenHashPrefix, 2*sha256.Size, len(hexPart))
	}
	if _, err := hex.Decode(sum[:], []byte(hexPart)); err != nil {
		return sum, fmt.Errorf("hash after %q is not hexadecimal", TokenHashPrefix)
	}
	return sum, nil
}

// Len returns the number of tokens in the set.
func (ts *TokenSet) Len() int {
	if ts == nil {
		return 0
	}
	return len(ts.entries)
}

// Lookup returns the Principal (Method MethodToken) of the token, and
// whether the set knows it.
//
// It hashes the presented token and compares that hash with every entry
// using crypto/subtle, without stopping at a match, so the time taken
// depends only on the number of entries. Even a leaky comparison would
// only tell an attacker how many leading bytes of SHA-256(guess) match a
// stored hash, which brings them no closer to a token with that hash; the
// constant-time compare removes even that.
func (ts *TokenSet) Lookup(token string) (Principal, bool) {
	if ts == nil || token == "" {
		return Principal{}, false
	}
	sum := sha256.Sum256([]byte(token))
	found := -1
	for i := range ts.entries {
		if subtle.ConstantTimeCompare(sum[:], ts.entries[i].sum[:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return Principal{}, false
	}
	return Principal{ID: ts.entries[found].identity, Method: MethodToken}, true
}

// HashToken returns the form of token the configuration holds:
// "sha256:" and the hexadecimal SHA-256 of the token.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return TokenHashPrefix + hex.EncodeToString(sum[:])
}

// localTokenBytes is the size of a generated token: 256 bits.
const localTokenBytes = 32

// NewLocalAdminToken returns the daemon's local admin token kept in the
// file at path, creating it (created is true) when there is none.
//
// A new token is 256 random bits, base64url without padding. It is written
// to a temporary file opened with O_CREATE|O_EXCL and mode 0600 next to
// path (so it is never readable by anyone else, whatever the umask: the
// umask can only remove bits), synced, then hard-linked to path, which
// never replaces an existing file: two daemons starting together agree on
// one token, and a reader never sees a half-written file.
//
// An existing file is refused when it is readable or writable by group or
// others, owned by another user, or not a regular file.
func NewLocalAdminToken(path string) (token string, created bool, err error) {
	token, err = readLocalToken(path)
	if err == nil {
		return token, false, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", false, err
	}
	token, err = createLocalToken(path)
	if errors.Is(err, os.ErrExist) {
		// Another process created it first: use its token.
		token, err = readLocalToken(path)
		return token, false, err
	}
	if err != nil {
		return "", false, err
	}
	return token, true, nil
}

func createLocalToken(path string) (string, error) {
	raw := make([]byte, localTokenBytes)
	if _, err := io.ReadFull(rand.Reader, raw); err != nil {
		return "", fmt.Errorf("admin token %s: generate: %w", path, err)
	}
	token := base64.RawURLEncoding.EncodeToString(raw)

	tmp, err := createTempExcl(filepath.Dir(path), filepath.Base(path))
	if err != nil {
		return "", fmt.Errorf("admin token %s: %w (check that the directory exists and is writable by this user)", path, err)
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName) // the link below keeps the file under path
	if err := writeAndSync(tmp, token+"\n"); err != nil {
		return "", fmt.Errorf("admin token %s: write %s: %w", path, tmpName, err)
	}
	if err := os.Link(tmpName, path); err != nil {
		if errors.Is(err, os.ErrExist) {
			return "", fmt.Errorf("admin token %s: %w", path, os.ErrExist)
		}
		return "", fmt.Errorf("admin token %s: %w", path, err)
	}
	return token, nil
}

// createTempExcl creates dir/.base.tmp-<random> with O_CREATE|O_EXCL and
// mode 0600, then sets the mode again so a umask that removed owner bits
// does not leave the owner unable to read it.
func createTempExcl(dir, base string) (*os.File, error) {
	for range 10 {
		suffix := make([]byte, 6)
		if _, err := io.ReadFull(rand.Reader, suffix); err != nil {
			return nil, err
		}
		name := filepath.Join(dir, "."+base+".tmp-"+hex.EncodeToString(suffix))
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if err := f.Chmod(0o600); err != nil {
			f.Close()
			os.Remove(name)
			return nil, err
		}
		return f, nil
	}
	return nil, errors.New("could not find a free temporary file name")
}

func writeAndSync(f *os.File, s string) error {
	_, err := f.WriteString(s)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// readLocalToken reads the token at path after checking, on the opened
// file (no race between the check and the read), that only its owner, this
// process's user, can read or write it.
func readLocalToken(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("admin token %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("admin token %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("admin token %s is not a regular file (%s); remove it and restart to create a new token", path, fi.Mode().Type())
	}
	if err := checkPrivate(path, fi); err != nil {
		return "", err
	}
	data, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return "", fmt.Errorf("admin token %s: %w", path, err)
	}
	token := strings.TrimSpace(string(data))
	if token == "" {
		return "", fmt.Errorf("admin token %s is empty; remove it and restart to create a new token", path)
	}
	if strings.ContainsAny(token, " \t\r\n") {
		return "", fmt.Errorf("admin token %s holds more than one line or word; it must hold the token only (remove it and restart to create a new one)", path)
	}
	return token, nil
}
