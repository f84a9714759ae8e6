package embedded

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/secretbroker/secretbroker/providers"
)

const (
	keySize = 32
	// maxKeyFileSize bounds what readKey reads: a key file is 64 to 66 bytes.
	maxKeyFileSize = 1024
)

// readKey reads and checks the key file: a regular file, mode 0600 or
// stricter, 64 hex characters and an optional newline. Its errors never
// quote the file's content.
func readKey(path string) ([]byte, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fileError(path, "key_file", "key file", err)
	}
	if !info.Mode().IsRegular() {
		return nil, &providers.ConfigError{Field: "key_file",
			Problem: fmt.Sprintf("%s is not a regular file", path),
			Fix:     "point key_file at the store's key file"}
	}
	if perm := info.Mode().Perm(); runtime.GOOS != "windows" && perm&0o077 != 0 {
		return nil, &providers.ConfigError{Field: "key_file",
			Problem: fmt.Sprintf("key file %s has mode %04o: group or others may access it, so secretbroker refuses to use it", path, perm),
			Fix:     "chmod 600 " + path}
	}
	if info.Size() > maxKeyFileSize {
		return nil, badKeyFile(path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fileError(path, "key_file", "key file", err)
	}
	defer clear(data)
	text := data
	if bytes.HasSuffix(text, []byte("\r\n")) {
		text = text[:len(text)-2]
	} else if bytes.HasSuffix(text, []byte("\n")) {
		text = text[:len(text)-1]
	}
	if len(text) != 2*keySize {
		return nil, badKeyFile(path)
	}
	key := make([]byte, keySize)
	if _, err := hex.Decode(key, text); err != nil {
		clear(key)
		return nil, badKeyFile(path)
	}
	return key, nil
}

func badKeyFile(path string) error {
	return &providers.ConfigError{Field: "key_file",
		Problem: fmt.Sprintf("key file %s does not hold a key in the expected form: 64 hexadecimal characters (32 bytes) and an optional newline", path),
		Fix:     "point key_file at the key file written when the store was created"}
}

// writeNewKey creates path with O_EXCL and mode 0600 (parent directories
// 0700) and writes a fresh random key to it, synced with its directory.
func writeNewKey(path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	key := make([]byte, keySize)
	rand.Read(key) // never fails: crypto/rand crashes the program instead
	text := make([]byte, 2*keySize+1)
	hex.Encode(text, key)
	text[2*keySize] = '\n'
	clear(key)
	_, err = f.Write(text)
	clear(text)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		os.Remove(path)
		return err
	}
	return nil
}

// syncDir makes a new directory entry in dir durable.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
