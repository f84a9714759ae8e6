package embedded

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/secretbroker/secretbroker/providers"
)

// DefaultOpenTimeout is how long New waits for another process to release
// the store's file lock when Config.OpenTimeout is zero.
const DefaultOpenTimeout = 5 * time.Second

// Config configures an embedded store. The daemon decodes it from the
// provider's YAML block with unknown fields rejected. The store is a local
// file: it has none of the timeout, max_attempts and tls settings of the
// other kinds (the daemon's protection block still applies around it).
type Config struct {
	// Path is the store file (a bbolt database). Required. The daemon
	// resolves a relative path against its data directory.
	// Example: /var/lib/secretbroker/store.db
	Path string `yaml:"path"`
	// KeyFile is the file holding the store's 32-byte key as 64 hexadecimal
	// characters and an optional newline; its mode must be 0600 or stricter
	// and it must belong to the daemon's user. Required; a relative path is
	// resolved like Path. Keep a backup: the store cannot be read without
	// it. Example: /etc/secretbroker/store.key
	KeyFile string `yaml:"key_file"`
	// Create makes New create the store file and a fresh key file when
	// neither exists (key file mode 0600, new parent directories 0700).
	// New never creates a key for an existing store, nor a store for an
	// existing key file (that store was lost: restore it, or remove the
	// key file to start empty). Default false: a missing store is an error.
	Create bool `yaml:"create"`
	// Writable allows Put and Delete, as in every provider block. Default
	// (nil) true for the embedded store; false opens the store read-only:
	// Get and List work, Writable reports false, Put and Delete fail with
	// FailedPrecondition, and other read-only openers may share the file.
	// false cannot be combined with Create.
	Writable *bool `yaml:"writable"`
	// OpenTimeout is how long New waits for another process to release the
	// store's file lock, as a duration string. Default "5s"; a shorter
	// deadline on New's context wins. Example: "10s".
	OpenTimeout time.Duration `yaml:"open_timeout"`
}

// readOnly reports whether the configuration says writable: false.
func (c Config) readOnly() bool { return c.Writable != nil && !*c.Writable }

// Validate checks c without opening the store, and returns every problem
// (joined with errors.Join), each a *providers.ConfigError: the required
// fields, the combinations New refuses, and, for absolute paths, the files
// themselves: a store or key file that is not a regular file or belongs to
// another user, a key file with a loose mode or not in the key form, a
// store without its key file, and a key file without its store. Relative
// paths name files in the daemon's data directory, which Validate does not
// know; New, which the daemon gives resolved paths, checks those files
// too. Validate creates and changes nothing.
func (c Config) Validate() error {
	_, errs := c.inspect(false)
	return errors.Join(errs...)
}

// files is what inspect found on disk.
type files struct {
	storeExists, keyExists bool
}

// inspect makes every check of Validate; with all, it looks at relative
// paths too (New's case: its paths are the ones it will open).
func (c Config) inspect(all bool) (files, []error) {
	var errs []error
	bad := func(field, problem, fix string) {
		errs = append(errs, &providers.ConfigError{Field: field, Problem: problem, Fix: fix})
	}
	if c.Path == "" {
		bad("path", "is required", "set path to the store file, e.g. /var/lib/secretbroker/store.db")
	}
	if c.KeyFile == "" {
		bad("key_file", "is required", "set key_file to the store's key file, e.g. /etc/secretbroker/store.key")
	}
	same := c.Path != "" && filepath.Clean(c.Path) == filepath.Clean(c.KeyFile)
	if same {
		bad("key_file", "is the same file as path", "keep the key in a file of its own, apart from the store")
	}
	if c.OpenTimeout < 0 {
		bad("open_timeout", "is negative", `use a positive duration such as "5s", or leave it out for the default`)
	}
	if c.Create && c.readOnly() {
		bad("create", "cannot be combined with writable: false",
			"create the store once with writable left out, then set writable: false")
	}
	var f files
	if c.Path == "" || c.KeyFile == "" || same {
		return f, errs
	}
	checkStore := all || filepath.IsAbs(c.Path)
	checkKey := all || filepath.IsAbs(c.KeyFile)
	storeOK, keyOK := true, true
	if checkStore {
		var err error
		if f.storeExists, err = lookUp(c.Path, "path", "store file"); err != nil {
			errs, storeOK = append(errs, err), false
		}
	}
	if checkKey {
		var err error
		if f.keyExists, err = lookUp(c.KeyFile, "key_file", "key file"); err != nil {
			errs, keyOK = append(errs, err), false
		} else if f.keyExists {
			key, err := readKey(c.KeyFile)
			clear(key)
			if err != nil {
				errs = append(errs, err)
			}
		}
	}
	if !checkStore || !checkKey || !storeOK || !keyOK {
		return f, errs
	}
	switch {
	case f.storeExists && !f.keyExists:
		bad("key_file", fmt.Sprintf("key file %s is missing, and the store %s cannot be read without the key it was created with", c.KeyFile, c.Path),
			"restore the key file from your backup; a new key cannot open this store")
	case !f.storeExists && f.keyExists:
		bad("path", fmt.Sprintf("the key file %s exists but the store %s does not", c.KeyFile, c.Path),
			"restore the store from backup, or remove the key file to start empty")
	case !f.storeExists && !c.Create:
		bad("path", fmt.Sprintf("store file %s does not exist", c.Path),
			"correct path, or set create: true to create a new store")
	}
	return f, errs
}

// lookUp reports whether path exists; when it does, it must be a regular
// file that belongs to the daemon's user.
func lookUp(path, field, what string) (bool, error) {
	info, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case err != nil:
		return false, fileError(path, field, what, err)
	case !info.Mode().IsRegular():
		return false, &providers.ConfigError{Field: field,
			Problem: fmt.Sprintf("%s is not a regular file", path),
			Fix:     "point " + field + " at the " + what}
	}
	if err := checkOwner(info, path, field, what); err != nil {
		return false, err
	}
	return true, nil
}

// fileError describes an error other than "does not exist" from looking a
// file up or reading it, without its content.
func fileError(path, field, what string, err error) error {
	if errors.Is(err, fs.ErrPermission) {
		return &providers.ConfigError{Field: field,
			Problem: fmt.Sprintf("%s %s cannot be read: permission denied", what, path),
			Fix:     "run secretbroker as the " + what + "'s owner, and let that user reach its directory"}
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err // the path is already in the message
	}
	return &providers.ConfigError{Field: field,
		Problem: fmt.Sprintf("%s %s cannot be read: %v", what, path, err),
		Fix:     "check " + field + " and the file's directory"}
}
