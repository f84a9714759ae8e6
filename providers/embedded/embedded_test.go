package embedded

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	bberrors "go.etcd.io/bbolt/errors"
	"gopkg.in/yaml.v3"

	"github.com/secretbroker/secretbroker/providers"
	"github.com/secretbroker/secretbroker/providers/providertest"
)

// testConfig returns a Config for a new store in a fresh directory, with
// the store and the key in subdirectories that do not exist yet.
func testConfig(t *testing.T) Config {
	t.Helper()
	dir := t.TempDir()
	return Config{
		Path:    filepath.Join(dir, "data", "store.db"),
		KeyFile: filepath.Join(dir, "keys", "store.key"),
		Create:  true,
	}
}

func mustNew(t *testing.T, cfg Config) *Provider {
	t.Helper()
	p, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func mustPut(t *testing.T, p *Provider, ref providers.Ref, attrs map[string]string) {
	t.Helper()
	if err := p.Put(context.Background(), ref, &providers.Secret{Attributes: attrs}); err != nil {
		t.Fatalf("Put %q: %v", ref.Name, err)
	}
}

func mustGet(t *testing.T, p *Provider, ref providers.Ref) *providers.Secret {
	t.Helper()
	s, err := p.Get(context.Background(), ref)
	if err != nil {
		t.Fatalf("Get %q: %v", ref.Name, err)
	}
	return s
}

func ref(name string) providers.Ref { return providers.Ref{Name: name} }

func boolPtr(b bool) *bool { return &b }

func wantConfigError(t *testing.T, err error, field string) *providers.ConfigError {
	t.Helper()
	var ce *providers.ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("got %v (%T), want a *providers.ConfigError", err, err)
	}
	if ce.Field != field {
		t.Fatalf("ConfigError field %q, want %q: %v", ce.Field, field, err)
	}
	return ce
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// withBolt opens the store file with bbolt directly and runs f in a write
// transaction: the tests' way to damage or rearrange a store.
func withBolt(t *testing.T, path string, f func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("bolt.Open: %v", err)
	}
	defer db.Close()
	if err := db.Update(f); err != nil {
		t.Fatalf("bolt update: %v", err)
	}
}

func TestCreateAndReopen(t *testing.T) {
	cfg := testConfig(t)
	p, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path string
		mode os.FileMode
	}{
		{cfg.KeyFile, 0o600}, {cfg.Path, 0o600},
		{filepath.Dir(cfg.KeyFile), 0o700 | os.ModeDir}, {filepath.Dir(cfg.Path), 0o700 | os.ModeDir},
	} {
		info, err := os.Stat(c.path)
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode() != c.mode {
			t.Errorf("%s: mode %v, want %v", c.path, info.Mode(), c.mode)
		}
	}
	key := readFile(t, cfg.KeyFile)
	if len(key) != 65 || key[64] != '\n' {
		t.Fatalf("key file holds %d bytes, want 64 hex characters and a newline", len(key))
	}
	if _, err := hex.DecodeString(string(key[:64])); err != nil {
		t.Fatalf("key file is not hex: %v", err)
	}
	want := map[string]string{"username": "svc", "password": "pw", "domain": "ACME"}
	mustPut(t, p, ref("accounting_pdf"), want)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}

	// Reopening (create still set, or not) keeps the key and the records.
	for _, create := range []bool{false, true} {
		cfg.Create = create
		p = mustNew(t, cfg)
		got := mustGet(t, p, ref("accounting_pdf"))
		if fmt.Sprint(got.Attributes) != fmt.Sprint(want) || got.Version != "1" {
			t.Fatalf("after reopening: got %v %v, want %v version 1", got.Attributes, got.Version, want)
		}
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(readFile(t, cfg.KeyFile), key) {
		t.Fatal("reopening changed the key file")
	}

	// Several read-only Providers share the file.
	cfg.Create, cfg.Writable = false, boolPtr(false)
	r1, r2 := mustNew(t, cfg), mustNew(t, cfg)
	for _, r := range []*Provider{r1, r2} {
		if got := mustGet(t, r, ref("accounting_pdf")); got.Attributes["password"] != "pw" {
			t.Fatal("read-only Provider read a wrong value")
		}
	}
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	store, key := filepath.Join(dir, "s.db"), filepath.Join(dir, "s.key")
	cases := []struct {
		name  string
		cfg   Config
		field string
	}{
		{"no path", Config{KeyFile: key, Create: true}, "path"},
		{"no key file", Config{Path: store, Create: true}, "key_file"},
		{"same file", Config{Path: store, KeyFile: dir + "/./s.db", Create: true}, "key_file"},
		{"negative timeout", Config{Path: store, KeyFile: key, OpenTimeout: -time.Second}, "open_timeout"},
		{"create and not writable", Config{Path: store, KeyFile: key, Create: true, Writable: boolPtr(false)}, "create"},
		{"path is a directory", Config{Path: dir, KeyFile: key, Create: true}, "path"},
		{"key file is a directory", Config{Path: store, KeyFile: dir, Create: true}, "key_file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := New(context.Background(), c.cfg)
			ce := wantConfigError(t, err, c.field)
			if ce.Fix == "" {
				t.Errorf("no fix offered: %v", err)
			}
		})
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("rejected configurations created files: %v", entries)
	}
}

func TestMissingStore(t *testing.T) {
	cfg := testConfig(t)
	cfg.Create = false
	_, err := New(context.Background(), cfg)
	ce := wantConfigError(t, err, "path")
	if !strings.Contains(ce.Problem, "does not exist") || !strings.Contains(ce.Fix, "create: true") {
		t.Fatalf("unhelpful error: %v", err)
	}
	for _, f := range []string{cfg.Path, cfg.KeyFile} {
		if _, err := os.Stat(f); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s was created without create: true", f)
		}
	}
	cfg.Writable = boolPtr(false)
	_, err = New(context.Background(), cfg)
	wantConfigError(t, err, "path")
}

func TestMissingKeyWithExistingStore(t *testing.T) {
	cfg := testConfig(t)
	p := mustNew(t, cfg)
	mustPut(t, p, ref("a"), map[string]string{"password": "x"})
	p.Close()
	if err := os.Remove(cfg.KeyFile); err != nil {
		t.Fatal(err)
	}
	before := readFile(t, cfg.Path)
	for _, create := range []bool{true, false} {
		cfg.Create = create
		_, err := New(context.Background(), cfg)
		ce := wantConfigError(t, err, "key_file")
		if !strings.Contains(ce.Problem, "missing") || !strings.Contains(ce.Problem, "cannot be read without") {
			t.Fatalf("unhelpful error: %v", err)
		}
		if _, err := os.Stat(cfg.KeyFile); !errors.Is(err, os.ErrNotExist) {
			t.Fatal("New created a key for an existing store")
		}
	}
	if !bytes.Equal(before, readFile(t, cfg.Path)) {
		t.Fatal("New changed a store it could not open")
	}
}

// TestKeyWithoutStore: a key file whose store is gone means the store was
// lost (deleted, a volume not mounted); New refuses to start empty even
// with create: true, where it used to create an empty store and every
// credential became NotFound.
func TestKeyWithoutStore(t *testing.T) {
	cfg := testConfig(t)
	if err := writeNewKey(cfg.KeyFile); err != nil {
		t.Fatal(err)
	}
	key := readFile(t, cfg.KeyFile)
	for _, create := range []bool{true, false} {
		cfg.Create = create
		for name, err := range map[string]error{"Validate": cfg.Validate(), "New": func() error { _, err := New(context.Background(), cfg); return err }()} {
			ce := wantConfigError(t, err, "path")
			if !strings.Contains(ce.Problem, "the key file "+cfg.KeyFile+" exists but the store "+cfg.Path+" does not") ||
				ce.Fix != "restore the store from backup, or remove the key file to start empty" {
				t.Fatalf("create %v, %s: unhelpful error: %v", create, name, err)
			}
		}
		if _, err := os.Stat(cfg.Path); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("create %v: New created a store for an existing key file", create)
		}
	}
	if !bytes.Equal(key, readFile(t, cfg.KeyFile)) {
		t.Fatal("New changed an existing key file")
	}
	// Removing the key file, as the fix says, starts empty.
	if err := os.Remove(cfg.KeyFile); err != nil {
		t.Fatal(err)
	}
	cfg.Create = true
	mustNew(t, cfg).Close()
}

func TestKeyFilePermissions(t *testing.T) {
	cfg := testConfig(t)
	mustNew(t, cfg).Close()
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o620, 0o602, 0o660, 0o666} {
		t.Run(mode.String(), func(t *testing.T) {
			if err := os.Chmod(cfg.KeyFile, mode); err != nil {
				t.Fatal(err)
			}
			_, err := New(context.Background(), cfg)
			ce := wantConfigError(t, err, "key_file")
			if want := "chmod 600 " + cfg.KeyFile; ce.Fix != want {
				t.Fatalf("fix %q, want %q", ce.Fix, want)
			}
		})
	}
	for _, mode := range []os.FileMode{0o600, 0o400} {
		if err := os.Chmod(cfg.KeyFile, mode); err != nil {
			t.Fatal(err)
		}
		p, err := New(context.Background(), cfg)
		if err != nil {
			t.Fatalf("mode %v: %v", mode, err)
		}
		p.Close()
	}
}

func TestKeyFileContent(t *testing.T) {
	cfg := testConfig(t)
	mustNew(t, cfg).Close()
	good := strings.TrimSuffix(string(readFile(t, cfg.KeyFile)), "\n")
	write := func(content string) {
		t.Helper()
		if err := os.WriteFile(cfg.KeyFile, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for name, content := range map[string]string{
		"no newline": good,
		"crlf":       good + "\r\n",
		"upper case": strings.ToUpper(good),
	} {
		write(content)
		p, err := New(context.Background(), cfg)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		p.Close()
	}
	raw, _ := hex.DecodeString(good)
	for name, content := range map[string]string{
		"empty":         "",
		"short":         good[:63],
		"long":          good + "0",
		"two newlines":  good + "\n\n",
		"not hex":       "g" + good[1:],
		"leading space": " " + good,
		"base64":        "ZmFrZS1rZXktZmFrZS1rZXktZmFrZS1rZXktZmFrZS0=\n",
		"raw bytes":     string(raw),
		"big":           strings.Repeat(good, 100),
	} {
		t.Run(name, func(t *testing.T) {
			write(content)
			_, err := New(context.Background(), cfg)
			wantConfigError(t, err, "key_file")
			if c := strings.TrimSpace(content); len(c) >= 8 && strings.Contains(err.Error(), c[:8]) {
				t.Fatalf("error quotes the key file: %v", err)
			}
		})
	}
}

func TestWrongKey(t *testing.T) {
	cfg := testConfig(t)
	p := mustNew(t, cfg)
	mustPut(t, p, ref("a"), map[string]string{"password": "x"})
	p.Close()
	rightKey := readFile(t, cfg.KeyFile)
	other := filepath.Join(t.TempDir(), "other.key")
	if err := writeNewKey(other); err != nil {
		t.Fatal(err)
	}
	wrongKey := readFile(t, other)
	if err := os.WriteFile(cfg.KeyFile, wrongKey, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := New(context.Background(), cfg)
	providertest.WantCode(t, err, providers.FailedPrecondition)
	if !errors.Is(err, ErrWrongKey) {
		t.Fatalf("%v is not ErrWrongKey", err)
	}
	want := fmt.Sprintf("embedded store %s: the key in %s does not open this store (wrong key file?)", cfg.Path, cfg.KeyFile)
	if err.Error() != want {
		t.Fatalf("error\n%q\nwant\n%q", err, want)
	}
	for _, k := range [][]byte{rightKey, wrongKey} {
		k = bytes.TrimSpace(k)
		if s := fmt.Sprintf("%+v %#v", err, err); strings.Contains(strings.ToLower(s), string(k)) || strings.Contains(s, string(k[:16])) {
			t.Fatal("error carries a key")
		}
	}
}

func TestDamagedFile(t *testing.T) {
	// A damage writes a damaged store file at path.
	type damage func(t *testing.T, path string)
	populated := func(t *testing.T, path string) int64 {
		cfg := Config{Path: path, KeyFile: path + ".key", Create: true}
		p := mustNew(t, cfg)
		for i := 0; i < 60; i++ {
			mustPut(t, p, ref(fmt.Sprintf("cred_%03d", i)), map[string]string{"password": strings.Repeat("x", 1000)})
		}
		p.Close()
		var hwm int64
		db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		db.View(func(tx *bolt.Tx) error { hwm = tx.Size(); return nil })
		db.Close()
		return hwm
	}
	cases := map[string]damage{
		"empty": func(t *testing.T, path string) { os.WriteFile(path, nil, 0o600) },
		"text": func(t *testing.T, path string) {
			os.WriteFile(path, bytes.Repeat([]byte("this is not a database\n"), 1000), 0o600)
		},
		"random": func(t *testing.T, path string) {
			b := make([]byte, 64<<10)
			for i := range b {
				b[i] = byte(i*7919 + i>>8)
			}
			os.WriteFile(path, b, 0o600)
		},
		"tiny": func(t *testing.T, path string) {
			populated(t, path)
			os.Truncate(path, 100)
		},
		"truncated": func(t *testing.T, path string) {
			hwm := populated(t, path)
			if hwm < 16*4096 {
				t.Fatalf("store too small to truncate meaningfully: %d", hwm)
			}
			os.Truncate(path, hwm/2)
		},
		"meta pages zeroed": func(t *testing.T, path string) {
			populated(t, path)
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.WriteAt(make([]byte, 2*4096), 0)
			f.Close()
		},
		"foreign bbolt file": func(t *testing.T, path string) {
			withBolt(t, path, func(tx *bolt.Tx) error {
				_, err := tx.CreateBucket([]byte("widgets"))
				return err
			})
		},
		"format record missing": func(t *testing.T, path string) {
			populated(t, path)
			withBolt(t, path, func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Delete(metaFormat) })
		},
	}
	for name, damageFile := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "store.db")
			damageFile(t, path)
			cfg := Config{Path: path, KeyFile: path + ".key"}
			if _, err := os.Stat(cfg.KeyFile); err != nil {
				if err := writeNewKey(cfg.KeyFile); err != nil {
					t.Fatal(err)
				}
			}
			before := readFile(t, path)
			_, err := New(context.Background(), cfg)
			t.Log(err)
			providertest.WantCode(t, err, providers.Internal)
			if !errors.Is(err, ErrDamaged) {
				t.Fatalf("%v is not ErrDamaged", err)
			}
			want := "embedded store " + path + " is not a secretbroker store or is damaged"
			if !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %q, want a line that starts %q", err, want)
			}
			if !bytes.Equal(before, readFile(t, path)) {
				t.Fatal("New wrote to a damaged file")
			}
		})
	}
}

func TestNewerFormat(t *testing.T) {
	cfg := testConfig(t)
	mustNew(t, cfg).Close()
	withBolt(t, cfg.Path, func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(metaFormat, []byte{2}) })
	_, err := New(context.Background(), cfg)
	providertest.WantCode(t, err, providers.FailedPrecondition)
	if !errors.Is(err, ErrUnsupportedFormat) || !strings.Contains(err.Error(), "format 2") {
		t.Fatalf("unhelpful error: %v", err)
	}
}

// TestDamagedPage corrupts the header of a leaf page of records in a store
// that still opens: bbolt panics when it reads that page, and the Provider
// must turn that into an Internal error instead of crashing.
func TestDamagedPage(t *testing.T) {
	cfg := testConfig(t)
	p := mustNew(t, cfg)
	const n = 200
	for i := 0; i < n; i++ {
		mustPut(t, p, ref(fmt.Sprintf("cred_%03d", i)), map[string]string{"password": strings.Repeat("y", 200)})
	}
	p.Close()
	var leaf, pageSize int
	db, err := bolt.Open(cfg.Path, 0o600, &bolt.Options{ReadOnly: true, PreLoadFreelist: true})
	if err != nil {
		t.Fatal(err)
	}
	pageSize = db.Info().PageSize
	db.View(func(tx *bolt.Tx) error {
		root := int(tx.Bucket(bucketSecrets).Root())
		info, err := tx.Page(root)
		if err != nil || info == nil || info.Type != "branch" {
			t.Fatalf("secrets root page %d is not a branch: %+v", root, info)
		}
		// Every leaf but the top-level one (which holds the bucket headers
		// and the inline meta bucket) holds records.
		top := int(tx.Cursor().Bucket().Root())
		for id := 2; leaf == 0; id++ {
			info, err := tx.Page(id)
			if err != nil || info == nil {
				break
			}
			if info.Type == "leaf" && id != top {
				leaf = id
			}
		}
		return nil
	})
	db.Close()
	if leaf == 0 {
		t.Fatal("no leaf page found")
	}
	f, err := os.OpenFile(cfg.Path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Page header: id (8 bytes), flags (2 bytes, native byte order, so
	// little-endian on amd64 and arm64). 0x40 is no page type.
	var flags [2]byte
	binary.LittleEndian.PutUint16(flags[:], 0x40)
	if _, err := f.WriteAt(flags[:], int64(leaf*pageSize+8)); err != nil {
		t.Fatal(err)
	}
	f.Close()

	cfg.Create = false
	p = mustNew(t, cfg)
	var damaged int
	for i := 0; i < n; i++ {
		_, err := p.Get(context.Background(), ref(fmt.Sprintf("cred_%03d", i)))
		if err != nil {
			providertest.WantCode(t, err, providers.Internal)
			if !errors.Is(err, ErrDamaged) || providers.ReasonOf(err) != reasonDamaged {
				t.Fatalf("Get: %v, want ErrDamaged", err)
			}
			if damaged == 0 {
				t.Log(err)
			}
			damaged++
		}
	}
	if damaged == 0 {
		t.Fatal("no Get saw the damaged page")
	}
	if _, err := p.List(context.Background(), "", ""); err == nil {
		t.Fatal("List over a damaged page succeeded")
	}
}

func TestReadOnly(t *testing.T) {
	cfg := testConfig(t)
	p := mustNew(t, cfg)
	mustPut(t, p, ref("a"), map[string]string{"password": "x"})
	p.Close()
	before := readFile(t, cfg.Path)
	cfg.Create, cfg.Writable = false, boolPtr(false)
	p = mustNew(t, cfg)
	if p.Writable() {
		t.Fatal("a read-only store says it is Writable")
	}
	if got := mustGet(t, p, ref("a")); got.Attributes["password"] != "x" {
		t.Fatal("wrong value")
	}
	ctx := context.Background()
	if err := p.Check(ctx); err != nil {
		t.Fatalf("Check of a read-only store: %v", err)
	}
	for name, err := range map[string]error{
		"Put":            p.Put(ctx, ref("a"), &providers.Secret{Attributes: map[string]string{"password": "y"}}),
		"Delete":         p.Delete(ctx, ref("a")),
		"Put missing":    p.Put(ctx, ref("b"), &providers.Secret{}),
		"Delete missing": p.Delete(ctx, ref("b")),
		"Put nil":        p.Put(ctx, ref("b"), nil),
	} {
		providertest.WantCode(t, err, providers.FailedPrecondition)
		if !errors.Is(err, ErrReadOnly) || providers.ReasonOf(err) != reasonReadOnly {
			t.Fatalf("%s: %v, want ErrReadOnly", name, err)
		}
	}
	if names, err := p.List(ctx, "", ""); err != nil || len(names) != 1 {
		t.Fatalf("List: %v %v", names, err)
	}
	p.Close()
	if !bytes.Equal(before, readFile(t, cfg.Path)) {
		t.Fatal("a read-only session changed the store file")
	}
}

func TestCheck(t *testing.T) {
	p := mustNew(t, testConfig(t))
	ctx := context.Background()
	if !p.Writable() {
		t.Fatal("a store opened for writing is not Writable")
	}
	if err := p.Check(ctx); err != nil {
		t.Fatalf("Check of a new store: %v", err)
	}
	mustPut(t, p, ref("a"), map[string]string{"password": "x"})
	// The key check record is replaced behind the provider's back (a file
	// swapped under a running daemon): Check reports the key no longer
	// opens the store, while records it sealed itself still open.
	err := p.db.Update(func(tx *bolt.Tx) error {
		other, _ := newAEAD(bytes.Repeat([]byte{7}, 32))
		return tx.Bucket(bucketMeta).Put(metaKeyCheck, seal(other, keyCheckAAD, []byte(keyCheckText)))
	})
	if err != nil {
		t.Fatal(err)
	}
	err = p.Check(ctx)
	providertest.WantCode(t, err, providers.FailedPrecondition)
	if !errors.Is(err, ErrWrongKey) {
		t.Fatalf("Check with a foreign key check: %v, want ErrWrongKey", err)
	}
	mustGet(t, p, ref("a"))
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	providertest.WantCode(t, p.Check(canceled), providers.Canceled)
	p.Close()
	err = p.Check(ctx)
	providertest.WantCode(t, err, providers.FailedPrecondition)
	if !errors.Is(err, ErrClosed) {
		t.Fatalf("Check after Close: %v", err)
	}
}

// TestErrorsAreClassified checks that the errors of every method carry a
// *providers.Error (or are context errors), so that CodeOf needs no
// provider.
func TestErrorsAreClassified(t *testing.T) {
	p := mustNew(t, testConfig(t))
	ctx := context.Background()
	_, err := p.Get(ctx, ref("missing"))
	var pe *providers.Error
	if !errors.As(err, &pe) || pe.Code != providers.NotFound || pe.Reason != "no secret with that name" || !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get of a missing secret: %#v", err)
	}
	err = p.Delete(ctx, ref("missing"))
	if !errors.As(err, &pe) || pe.Code != providers.NotFound {
		t.Fatalf("Delete of a missing secret: %v", err)
	}
	p.Close()
	_, err = p.List(ctx, "", "")
	if !errors.As(err, &pe) || pe.Code != providers.FailedPrecondition || pe.Reason != "the embedded store is closed" {
		t.Fatalf("List after Close: %v", err)
	}
}

func TestInUse(t *testing.T) {
	cfg := testConfig(t)
	w := mustNew(t, cfg)
	cfg.Create = false
	cfg.OpenTimeout = 100 * time.Millisecond
	for _, readOnly := range []bool{false, true} {
		cfg.Writable = boolPtr(!readOnly)
		_, err := New(context.Background(), cfg)
		providertest.WantCode(t, err, providers.Unavailable)
		if !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), "is in use by another process") {
			t.Fatalf("read_only %v: unhelpful error: %v", readOnly, err)
		}
	}
	w.Close()
	// A reader keeps writers out too.
	cfg.Writable = boolPtr(false)
	r := mustNew(t, cfg)
	cfg.Writable = nil
	_, err := New(context.Background(), cfg)
	if !errors.Is(err, ErrInUse) {
		t.Fatalf("writer beside a reader: %v, want ErrInUse", err)
	}
	r.Close()
	mustNew(t, cfg).Close()
}

func TestRecordMoved(t *testing.T) {
	cfg := testConfig(t)
	p := mustNew(t, cfg)
	mustPut(t, p, ref("alice"), map[string]string{"password": "alice-pw"})
	mustPut(t, p, ref("bob"), map[string]string{"password": "bob-pw"})
	mustPut(t, p, ref("tampered"), map[string]string{"password": "t"})
	mustPut(t, p, ref("newformat"), map[string]string{"password": "t"})
	mustPut(t, p, ref("short"), map[string]string{"password": "t"})
	p.Close()

	key := func(loc, name string) []byte { return []byte(loc + "\x00" + name) }
	withBolt(t, cfg.Path, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSecrets)
		alice := bytes.Clone(b.Get(key("", "alice")))
		for _, k := range [][]byte{key("", "carol"), key("", "bob"), key("safe", "alice")} {
			if err := b.Put(k, alice); err != nil {
				return err
			}
		}
		v := bytes.Clone(b.Get(key("", "tampered")))
		v[len(v)-20] ^= 1
		if err := b.Put(key("", "tampered"), v); err != nil {
			return err
		}
		v = bytes.Clone(b.Get(key("", "newformat")))
		v[0] = 2
		if err := b.Put(key("", "newformat"), v); err != nil {
			return err
		}
		return b.Put(key("", "short"), []byte{1, 2, 3})
	})

	cfg.Create = false
	p = mustNew(t, cfg)
	ctx := context.Background()
	if got := mustGet(t, p, ref("alice")); got.Attributes["password"] != "alice-pw" {
		t.Fatal("the original record no longer opens")
	}
	for _, r := range []providers.Ref{ref("carol"), ref("bob"), {Location: "safe", Name: "alice"}, ref("tampered"), ref("short")} {
		s, err := p.Get(ctx, r)
		if s != nil {
			t.Fatalf("Get %v returned a secret", r)
		}
		providertest.WantCode(t, err, providers.Internal)
		if !errors.Is(err, ErrAuthentication) || providers.ReasonOf(err) != reasonAuth {
			t.Fatalf("Get %v: %v (reason %q), want ErrAuthentication", r, err, providers.ReasonOf(err))
		}
		if strings.Contains(err.Error(), "alice-pw") {
			t.Fatal("error carries a secret")
		}
	}
	_, err := p.Get(ctx, ref("newformat"))
	providertest.WantCode(t, err, providers.Internal)
	if !errors.Is(err, ErrUnsupportedFormat) {
		t.Fatalf("Get newformat: %v, want ErrUnsupportedFormat", err)
	}

	// Put refuses to replace a record that does not authenticate; Delete
	// removes it, and then Put starts afresh.
	err = p.Put(ctx, ref("carol"), &providers.Secret{Attributes: map[string]string{"password": "c"}})
	providertest.WantCode(t, err, providers.Internal)
	if !strings.Contains(providers.ReasonOf(err), "delete it") {
		t.Fatalf("Put over a moved record: reason %q", providers.ReasonOf(err))
	}
	if err := p.Delete(ctx, ref("carol")); err != nil {
		t.Fatal(err)
	}
	mustPut(t, p, ref("carol"), map[string]string{"password": "c"})
	if got := mustGet(t, p, ref("carol")); got.Attributes["password"] != "c" || got.Version != "1" {
		t.Fatalf("after Delete and Put: %v version %q", got, got.Version)
	}
}

func TestEveryByte(t *testing.T) {
	cfg := testConfig(t)
	p := mustNew(t, cfg)
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	want := map[string]map[string]string{}
	for i := 0; i < 256; i++ {
		b := string([]byte{byte(i)})
		want[fmt.Sprintf("byte_%02x", i)] = map[string]string{
			"username": b,
			"password": strings.Repeat(b, i%7),
			"k" + b:    b + string(all) + b, // attribute names are bytes too
		}
	}
	want["invalid_utf8"] = map[string]string{
		"password": "\xff\xfe\xc3\x28\xed\xa0\x80\xf4\x90\x80\x80\xc0\xaf",
		"\xff":     "",
		"":         "\x00",
	}
	attrs := map[string]string{}
	for i := 0; i < 256; i++ {
		attrs[string([]byte{byte(i)})] = string(all[i:])
	}
	want["all_names"] = attrs
	for name, a := range want {
		mustPut(t, p, ref(name), a)
	}
	check := func(p *Provider) {
		t.Helper()
		for name, a := range want {
			got := mustGet(t, p, ref(name))
			if len(got.Attributes) != len(a) {
				t.Fatalf("%s: %d attributes, want %d", name, len(got.Attributes), len(a))
			}
			for k, v := range a {
				if g, ok := got.Attributes[k]; !ok || g != v {
					t.Fatalf("%s: attribute %x: got %x, want %x", name, k, g, v)
				}
			}
		}
	}
	check(p)
	p.Close()
	cfg.Create = false
	check(mustNew(t, cfg))
}

func TestVersions(t *testing.T) {
	p := mustNew(t, testConfig(t))
	ctx := context.Background()
	r := ref("versioned")
	start := time.Now().Add(-time.Minute)
	mustPut(t, p, r, map[string]string{"password": "one"})
	first := mustGet(t, p, r)
	if first.Version != "1" || first.UpdatedAt.Before(start) || first.UpdatedAt.Location() != time.UTC {
		t.Fatalf("first Put: version %q updated %v", first.Version, first.UpdatedAt)
	}
	// The caller's Version and UpdatedAt are not stored.
	if err := p.Put(ctx, r, &providers.Secret{Attributes: map[string]string{"password": "two"}, Version: "77", UpdatedAt: time.Unix(1, 0)}); err != nil {
		t.Fatal(err)
	}
	second := mustGet(t, p, r)
	if second.Version != "2" || second.UpdatedAt.Before(first.UpdatedAt) || second.Attributes["password"] != "two" {
		t.Fatalf("second Put: version %q updated %v", second.Version, second.UpdatedAt)
	}
	r.Version = "2"
	if got := mustGet(t, p, r); got.Attributes["password"] != "two" {
		t.Fatal("Get of the current version by number failed")
	}
	r.Version = "1"
	_, err := p.Get(ctx, r)
	providertest.WantCode(t, err, providers.NotFound)
	if !strings.Contains(providers.ReasonOf(err), "not kept") {
		t.Fatalf("reason %q does not say old versions are not kept", providers.ReasonOf(err))
	}
	for _, v := range []string{"0", "-1", "abc", "1.0", " 2"} {
		r.Version = v
		_, err := p.Get(ctx, r)
		providertest.WantCode(t, err, providers.InvalidArgument)
	}
	r.Version = ""
	if err := p.Delete(ctx, r); err != nil {
		t.Fatal(err)
	}
	mustPut(t, p, r, map[string]string{"password": "three"})
	if got := mustGet(t, p, r); got.Version != "1" {
		t.Fatalf("Put after Delete: version %q, want 1", got.Version)
	}
	// A nil attribute map is an empty secret.
	mustPut(t, p, ref("empty"), nil)
	if got := mustGet(t, p, ref("empty")); got.Attributes == nil || len(got.Attributes) != 0 {
		t.Fatalf("empty secret came back as %v", got.Attributes)
	}
}

func TestConcurrentPutGet(t *testing.T) {
	p := mustNew(t, testConfig(t))
	ctx := context.Background()
	const workers, rounds = 6, 15
	var wg sync.WaitGroup
	errs := make(chan error, workers*rounds*3)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			own := ref(fmt.Sprintf("worker_%d", w))
			for i := 1; i <= rounds; i++ {
				want := fmt.Sprintf("w%d-round%d", w, i)
				if err := p.Put(ctx, own, &providers.Secret{Attributes: map[string]string{"password": want}}); err != nil {
					errs <- err
					continue
				}
				got, err := p.Get(ctx, own)
				switch {
				case err != nil:
					errs <- err
				case got.Attributes["password"] != want || got.Version != fmt.Sprint(i):
					errs <- fmt.Errorf("worker %d round %d: version %s, wrong value", w, i, got.Version)
				}
				// Everyone writes and reads one shared name too.
				shared := ref("shared")
				if err := p.Put(ctx, shared, &providers.Secret{Attributes: map[string]string{"password": want}}); err != nil {
					errs <- err
				}
				if _, err := p.Get(ctx, shared); err != nil {
					errs <- err
				}
				if _, err := p.List(ctx, "", "worker_"); err != nil {
					errs <- err
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := mustGet(t, p, ref("shared")); got.Version != fmt.Sprint(workers*rounds) {
		t.Fatalf("shared name has version %s after %d Puts", got.Version, workers*rounds)
	}
}

func TestContextErrors(t *testing.T) {
	cfg := testConfig(t)
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()

	_, err := New(canceled, cfg)
	providertest.WantCode(t, err, providers.Canceled)
	_, err = New(expired, cfg)
	providertest.WantCode(t, err, providers.DeadlineExceeded)

	p := mustNew(t, cfg)
	mustPut(t, p, ref("a"), map[string]string{"password": "x"})
	for ctx, want := range map[context.Context]providers.Code{canceled: providers.Canceled, expired: providers.DeadlineExceeded} {
		_, err := p.Get(ctx, ref("a"))
		providertest.WantCode(t, err, want)
		err = p.Put(ctx, ref("a"), &providers.Secret{Attributes: map[string]string{"password": "y"}})
		providertest.WantCode(t, err, want)
		err = p.Delete(ctx, ref("a"))
		providertest.WantCode(t, err, want)
		_, err = p.List(ctx, "", "")
		providertest.WantCode(t, err, want)
	}
	if got := mustGet(t, p, ref("a")); got.Attributes["password"] != "x" || got.Version != "1" {
		t.Fatal("a write with a dead context changed the store")
	}
}

func TestClosed(t *testing.T) {
	p := mustNew(t, testConfig(t))
	mustPut(t, p, ref("a"), map[string]string{"password": "x"})
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	ctx := context.Background()
	_, err := p.Get(ctx, ref("a"))
	providertest.WantCode(t, err, providers.FailedPrecondition)
	if !errors.Is(err, ErrClosed) {
		t.Fatalf("Get after Close: %v", err)
	}
	providertest.WantCode(t, p.Put(ctx, ref("a"), &providers.Secret{}), providers.FailedPrecondition)
	providertest.WantCode(t, p.Delete(ctx, ref("a")), providers.FailedPrecondition)
	_, err = p.List(ctx, "", "")
	providertest.WantCode(t, err, providers.FailedPrecondition)
}

func TestList(t *testing.T) {
	p := mustNew(t, testConfig(t))
	ctx := context.Background()
	for _, r := range []providers.Ref{
		ref("fin_b"), ref("fin_a"), ref("hr_x"), ref("fin"), ref("fin_a\x00z"),
		{Location: "Safe1", Name: "fin_c"}, {Location: "Safe", Name: "1fin_d"},
	} {
		mustPut(t, p, r, map[string]string{"password": "x"})
	}
	for _, c := range []struct {
		loc, prefix string
		want        []string
	}{
		{"", "fin_", []string{"fin_a", "fin_a\x00z", "fin_b"}},
		{"", "", []string{"fin", "fin_a", "fin_a\x00z", "fin_b", "hr_x"}},
		{"", "zz", nil},
		{"Safe1", "", []string{"fin_c"}},
		{"Safe", "", []string{"1fin_d"}},
		{"Saf", "", nil},
	} {
		got, err := p.List(ctx, c.loc, c.prefix)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", c.want) {
			t.Errorf("List(%q, %q) = %q, want %q", c.loc, c.prefix, got, c.want)
		}
	}
	_, err := p.List(ctx, "a\x00b", "")
	providertest.WantCode(t, err, providers.InvalidArgument)
}

func TestInvalidRef(t *testing.T) {
	p := mustNew(t, testConfig(t))
	ctx := context.Background()
	s := &providers.Secret{Attributes: map[string]string{"password": "x"}}
	for name, r := range map[string]providers.Ref{
		"empty name":   {},
		"NUL location": {Location: "a\x00b", Name: "c"},
		"long name":    {Name: strings.Repeat("n", maxKeySize)},
	} {
		_, err := p.Get(ctx, r)
		providertest.WantCode(t, err, providers.InvalidArgument)
		providertest.WantCode(t, p.Put(ctx, r, s), providers.InvalidArgument)
		providertest.WantCode(t, p.Delete(ctx, r), providers.InvalidArgument)
		if !errors.Is(p.Put(ctx, r, s), ErrInvalidRef) {
			t.Fatalf("%s: not ErrInvalidRef", name)
		}
	}
	providertest.WantCode(t, p.Put(ctx, ref("a"), nil), providers.InvalidArgument)
	// The longest name that fits works.
	long := ref(strings.Repeat("n", maxKeySize-1))
	mustPut(t, p, long, map[string]string{"password": "x"})
	mustGet(t, p, long)
	err := p.Delete(ctx, ref("never_written"))
	providertest.WantCode(t, err, providers.NotFound)
}

// TestNothingInTheClear checks that the store file holds no attribute name,
// value or key in the clear, and that printing a Provider shows no key.
func TestNothingInTheClear(t *testing.T) {
	cfg := testConfig(t)
	p := mustNew(t, cfg)
	const value, attr = "Tr0ub4dor&3-plaintext-marker", "attribute-name-marker"
	mustPut(t, p, ref("leak_check"), map[string]string{"password": value, attr: "v"})
	keyHex := strings.TrimSpace(string(readFile(t, cfg.KeyFile)))
	key, _ := hex.DecodeString(keyHex)
	for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
		if out := fmt.Sprintf(f, p); strings.Contains(out, keyHex) || strings.Contains(out, string(key)) {
			t.Fatalf("fmt %s of a Provider prints the key", f)
		}
	}
	p.Close()
	file := readFile(t, cfg.Path)
	for _, s := range []string{value, attr, keyHex, string(key)} {
		if bytes.Contains(file, []byte(s)) {
			t.Fatalf("store file holds %q in the clear", s[:8])
		}
	}
}

func TestConfigYAML(t *testing.T) {
	const doc = `
path: /var/lib/secretbroker/store.db
key_file: /etc/secretbroker/store.key
create: true
writable: true
open_timeout: 10s
`
	var cfg Config
	dec := yaml.NewDecoder(strings.NewReader(doc))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Writable == nil || !*cfg.Writable {
		t.Fatalf("writable: true decoded as %v", cfg.Writable)
	}
	cfg.Writable = nil
	want := Config{Path: "/var/lib/secretbroker/store.db", KeyFile: "/etc/secretbroker/store.key", Create: true, OpenTimeout: 10 * time.Second}
	if cfg != want {
		t.Fatalf("decoded %+v, want %+v", cfg, want)
	}
	// Unknown fields, and the old spelling read_only, are refused.
	for _, bad := range []string{"path: x\nkey: y\n", "path: x\nread_only: true\n"} {
		dec = yaml.NewDecoder(strings.NewReader(bad))
		dec.KnownFields(true)
		if err := dec.Decode(&Config{}); err == nil {
			t.Fatalf("%q was accepted", bad)
		}
	}
}

func TestCode(t *testing.T) {
	for _, c := range []struct {
		err  error
		want providers.Code
	}{
		{nil, providers.OK},
		{fmt.Errorf("x: %w", ErrNotFound), providers.NotFound},
		{ErrReadOnly, providers.FailedPrecondition},
		{ErrClosed, providers.FailedPrecondition},
		{ErrWrongKey, providers.FailedPrecondition},
		{ErrInvalidRef, providers.InvalidArgument},
		{ErrAuthentication, providers.Internal},
		{ErrDamaged, providers.Internal},
		{ErrUnsupportedFormat, providers.Internal},
		{ErrInUse, providers.Unavailable},
		{bberrors.ErrTimeout, providers.Unavailable},
		{bberrors.ErrDatabaseNotOpen, providers.FailedPrecondition},
		{bberrors.ErrDatabaseReadOnly, providers.FailedPrecondition},
		{bberrors.ErrKeyTooLarge, providers.InvalidArgument},
		{bberrors.ErrValueTooLarge, providers.InvalidArgument},
		{bberrors.ErrInvalid, providers.Internal},
		{bberrors.ErrChecksum, providers.Internal},
		{&os.PathError{Op: "write", Path: "x", Err: errors.New("no space left on device")}, providers.Unavailable},
		{&os.PathError{Op: "open", Path: "x", Err: os.ErrPermission}, providers.PermissionDenied},
		{fmt.Errorf("x: %w", context.Canceled), providers.Canceled},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), providers.DeadlineExceeded},
		{providers.Errorf(providers.NotFound, ErrAuthentication, "r"), providers.NotFound},
		{errors.New("something else"), providers.Unknown},
	} {
		if got := code(c.err); got != c.want {
			t.Errorf("code(%v) = %v, want %v", c.err, got, c.want)
		}
		// What a Provider method returns carries the same code for CodeOf.
		if got := providers.CodeOf(classified(c.err)); got != c.want {
			t.Errorf("CodeOf(classified(%v)) = %v, want %v", c.err, got, c.want)
		}
	}
}

func TestRecordEncoding(t *testing.T) {
	r := record{version: 7, updated: time.Unix(0, 1234567890123).UTC(), attrs: map[string]string{"a": "1", "": "", "\xff": "\x00"}}
	b := encodeRecord(r)
	got, err := decodeRecord(b)
	if err != nil || got.version != 7 || !got.updated.Equal(r.updated) || fmt.Sprint(got.attrs) != fmt.Sprint(r.attrs) {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	// Every truncation and a trailing byte are rejected, never a panic.
	for i := 0; i < len(b); i++ {
		if _, err := decodeRecord(b[:i]); err == nil {
			t.Fatalf("truncated to %d bytes: accepted", i)
		}
	}
	if _, err := decodeRecord(append(bytes.Clone(b), 0)); err == nil {
		t.Fatal("trailing byte accepted")
	}
	// A huge count or length is rejected without a huge allocation.
	huge := binary.AppendUvarint(binary.AppendVarint(binary.AppendUvarint(nil, 1), 0), 1<<62)
	if _, err := decodeRecord(huge); err == nil {
		t.Fatal("huge count accepted")
	}
}
