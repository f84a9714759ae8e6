package embedded

import (
	"bytes"
	"context"
	"crypto/cipher"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bberrors "go.etcd.io/bbolt/errors"

	"github.com/secretbroker/secretbroker/providers"
)

// Provider is an open embedded store. It implements providers.Provider
// (Writable unless Config.Writable is false) and is safe for concurrent use.
type Provider struct {
	db       *bolt.DB
	aead     cipher.AEAD // holds the key; the raw key bytes are cleared after New
	path     string
	readOnly bool
	closed   atomic.Bool
}

var _ providers.Provider = (*Provider)(nil)

// kind is the provider kind named in NotWritable errors.
const kind = "embedded"

// New opens the store that cfg describes, creating it when cfg.Create allows
// it. It first makes every check of Config.Validate, on every path (all its
// problems joined), then checks that the file is a secretbroker store and
// that the key opens it, so a wrong key or a damaged file is reported here
// and not at the first Get. Errors are
// *providers.ConfigError for configuration that cannot work, context
// errors, or errors classified by providers.CodeOf: FailedPrecondition
// (wrong key, newer format), Internal (damaged file), Unavailable (store in
// use by another process). No error carries the key.
func New(ctx context.Context, cfg Config) (*Provider, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("embedded store %s: %w", cfg.Path, err)
	}
	found, errs := cfg.inspect(true)
	if len(errs) > 0 {
		return nil, providers.JoinErrors(errs)
	}
	timeout := cfg.OpenTimeout
	if timeout == 0 {
		timeout = DefaultOpenTimeout
	}
	if deadline, ok := ctx.Deadline(); ok {
		if left := time.Until(deadline); left < timeout {
			if left <= 0 {
				return nil, fmt.Errorf("embedded store %s: %w", cfg.Path, context.DeadlineExceeded)
			}
			timeout = left
		}
	}

	// inspect leaves two cases: both files exist, or neither does and
	// Create allows making them.
	storeExists := found.storeExists
	var createdKey bool
	if !storeExists && !found.keyExists {
		if err := writeNewKey(cfg.KeyFile); err != nil {
			return nil, openFail(fsCode(err), nil, err, true, "embedded store %s: cannot create key file %s", cfg.Path, cfg.KeyFile)
		}
		createdKey = true
	}

	key, err := readKey(cfg.KeyFile)
	if err != nil {
		if createdKey {
			os.Remove(cfg.KeyFile)
		}
		return nil, err
	}
	aead, err := newAEAD(key)
	clear(key)
	if err != nil {
		return nil, providers.Errorf(providers.Internal, err, "embedded store %s: cannot use the key", cfg.Path)
	}
	p := &Provider{aead: aead, path: cfg.Path, readOnly: cfg.readOnly()}

	if !storeExists {
		if err := p.create(timeout); err != nil {
			if createdKey {
				os.Remove(cfg.KeyFile)
			}
			return nil, err
		}
		return p, nil
	}
	if err := p.open(cfg.KeyFile, timeout); err != nil {
		return nil, err
	}
	return p, nil
}

func fsCode(err error) providers.Code {
	if errors.Is(err, fs.ErrPermission) {
		return providers.PermissionDenied
	}
	return providers.Unavailable
}

// create makes a new store at p.path: an empty file made with O_EXCL, then
// bbolt's pages, the buckets, the format and the key check.
func (p *Provider) create(timeout time.Duration) error {
	dir := filepath.Dir(p.path)
	fail := func(err error) error {
		return openFail(fsCode(err), nil, err, true, "embedded store %s: cannot create the store", p.path)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fail(err)
	}
	f, err := os.OpenFile(p.path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fail(err)
	}
	f.Close()
	db, err := bolt.Open(p.path, 0o600, &bolt.Options{Timeout: timeout})
	if err != nil {
		os.Remove(p.path)
		return p.boltOpenError(err, timeout)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucket(bucketMeta)
		if err != nil {
			return err
		}
		if err := meta.Put(metaFormat, []byte{formatVersion}); err != nil {
			return err
		}
		if err := meta.Put(metaKeyCheck, seal(p.aead, keyCheckAAD, []byte(keyCheckText))); err != nil {
			return err
		}
		_, err = tx.CreateBucket(bucketSecrets)
		return err
	})
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		db.Close()
		os.Remove(p.path)
		return fail(err)
	}
	p.db = db
	return nil
}

// open opens an existing store. It first opens it read-only and checks it
// (size, buckets, format, key) before anything touches pages beyond the
// meta pages, then reopens it for writing unless p.readOnly.
func (p *Provider) open(keyFile string, timeout time.Duration) error {
	info, err := os.Stat(p.path)
	if err != nil {
		return openFail(fsCode(err), nil, err, true, "embedded store %s: cannot open", p.path)
	}
	if info.Size() == 0 {
		return p.damaged(errors.New("the file is empty"))
	}
	db, err := bolt.Open(p.path, 0o600, &bolt.Options{Timeout: timeout, ReadOnly: true})
	if err != nil {
		return p.boltOpenError(err, timeout)
	}
	if err := p.check(db, keyFile); err != nil {
		db.Close()
		return err
	}
	if p.readOnly {
		p.db = db
		return nil
	}
	if err := db.Close(); err != nil {
		return openFail(providers.Unavailable, nil, err, true, "embedded store %s: cannot open", p.path)
	}
	db, err = bolt.Open(p.path, 0o600, &bolt.Options{Timeout: timeout})
	if err != nil {
		return p.boltOpenError(err, timeout)
	}
	p.db = db
	return nil
}

// check verifies an open store: the file holds every page the meta page
// counts, the buckets and format are ours, and the key opens the key check.
func (p *Provider) check(db *bolt.DB, keyFile string) error {
	return guard(func() error {
		return db.View(func(tx *bolt.Tx) error {
			info, err := os.Stat(p.path)
			if err != nil {
				return openFail(fsCode(err), nil, err, true, "embedded store %s: cannot open", p.path)
			}
			if tx.Size() > info.Size() {
				return p.damaged(fmt.Errorf("the file is truncated (%d bytes, want at least %d)", info.Size(), tx.Size()))
			}
			meta := tx.Bucket(bucketMeta)
			if meta == nil || tx.Bucket(bucketSecrets) == nil {
				return p.damaged(errors.New("its buckets are missing"))
			}
			format := meta.Get(metaFormat)
			if len(format) != 1 {
				return p.damaged(errors.New("its format record is missing"))
			}
			if format[0] != formatVersion {
				return openFail(providers.FailedPrecondition, ErrUnsupportedFormat, nil, false,
					"embedded store %s has store format %d; this secretbroker reads format %d (upgrade secretbroker)",
					p.path, format[0], formatVersion)
			}
			plain, err := unseal(p.aead, keyCheckAAD, meta.Get(metaKeyCheck))
			if err != nil || string(plain) != keyCheckText {
				return openFail(providers.FailedPrecondition, ErrWrongKey, nil, false,
					"embedded store %s: the key in %s does not open this store (wrong key file?)", p.path, keyFile)
			}
			return nil
		})
	})
}

func (p *Provider) damaged(cause error) error {
	return openFail(providers.Internal, ErrDamaged, cause, true,
		"embedded store %s is not a secretbroker store or is damaged", p.path)
}

// boltOpenError explains an error from bolt.Open.
func (p *Provider) boltOpenError(err error, timeout time.Duration) error {
	var pathErr *fs.PathError
	switch {
	case errors.Is(err, bberrors.ErrTimeout):
		return openFail(providers.Unavailable, ErrInUse, err, false,
			"embedded store %s is in use by another process (its file lock was not released within %v)", p.path, timeout)
	case errors.As(err, &pathErr):
		return openFail(fsCode(err), nil, err, true, "embedded store %s: cannot open", p.path)
	default:
		return p.damaged(err)
	}
}

// guard runs f, turning a panic (bbolt panics on some damaged pages; a
// fault in the memory-mapped file becomes one too) into ErrDamaged, so a
// damaged file fails a request instead of the daemon.
func guard(f func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			msg := fmt.Sprint(r)
			if len(msg) > 200 {
				msg = msg[:200]
			}
			err = providers.Errorf(providers.Internal, fmt.Errorf("%w: bbolt: %s", ErrDamaged, msg), reasonDamaged)
		}
	}()
	return f()
}

// view runs f in a read transaction of the open store.
func (p *Provider) view(f func(*bolt.Tx) error) error {
	if p.closed.Load() {
		return fmt.Errorf("embedded store: %w", ErrClosed)
	}
	return p.txError(guard(func() error { return p.db.View(f) }))
}

// update runs f in a write transaction, committed and synced on success.
// Put and Delete have checked p.writable.
func (p *Provider) update(f func(*bolt.Tx) error) error {
	if p.closed.Load() {
		return fmt.Errorf("embedded store: %w", ErrClosed)
	}
	return p.txError(guard(func() error { return p.db.Update(f) }))
}

// notWritable is the error of Put and Delete on a read-only store.
func (p *Provider) notWritable() error {
	e := providers.NotWritable(kind)
	e.Reason = reasonReadOnly
	e.Err = fmt.Errorf("embedded store: %w", ErrReadOnly)
	return e
}

func (p *Provider) txError(err error) error {
	if errors.Is(err, bberrors.ErrDatabaseNotOpen) {
		return fmt.Errorf("embedded store: %w", ErrClosed)
	}
	return err
}

// Get returns the current version of the secret at ref. A ref.Version other
// than "" or the current version is NotFound: the store keeps no history.
// A record that fails authentication (wrong key, damaged file, a record
// copied under another name) is Internal.
func (p *Provider) Get(ctx context.Context, ref providers.Ref) (*providers.Secret, error) {
	s, err := p.get(ctx, ref)
	return s, classified(err)
}

func (p *Provider) get(ctx context.Context, ref providers.Ref) (*providers.Secret, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("embedded store: get %q: %w", ref.String(), err)
	}
	key, err := recordKey(ref)
	if err != nil {
		return nil, err
	}
	var want uint64
	if ref.Version != "" {
		want, err = strconv.ParseUint(ref.Version, 10, 64)
		if err != nil || want == 0 {
			return nil, providers.Errorf(providers.InvalidArgument, ErrInvalidRef,
				"version must be a positive decimal number for the embedded store")
		}
	}
	var sealed []byte
	err = p.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketSecrets).Get(key)
		if v == nil {
			return notFound(ref)
		}
		sealed = bytes.Clone(v) // v lives only as long as the transaction
		return nil
	})
	if err != nil {
		return nil, err
	}
	rec, err := p.openRecord(ref, key, sealed)
	if err != nil {
		return nil, err
	}
	current := strconv.FormatUint(rec.version, 10)
	if want != 0 && want != rec.version {
		return nil, providers.Errorf(providers.NotFound, fmt.Errorf("embedded store: %q version %d: %w", ref.String(), want, ErrNotFound),
			"version %d is not kept: the embedded store keeps only the current version (%s)", want, current)
	}
	return &providers.Secret{Attributes: rec.attrs, Version: current, UpdatedAt: rec.updated}, nil
}

func notFound(ref providers.Ref) error {
	return fmt.Errorf("embedded store: %q: %w", ref.String(), ErrNotFound)
}

// openRecord authenticates, decrypts and decodes the record at key.
func (p *Provider) openRecord(ref providers.Ref, key, sealed []byte) (record, error) {
	plain, err := unseal(p.aead, recordAAD(key), sealed)
	switch {
	case errors.Is(err, ErrUnsupportedFormat):
		return record{}, providers.Errorf(providers.Internal, fmt.Errorf("embedded store: %q: %w", ref.String(), err),
			"record has a format this secretbroker does not read")
	case err != nil:
		return record{}, providers.Errorf(providers.Internal, fmt.Errorf("embedded store: %q: %w", ref.String(), err), reasonAuth)
	}
	rec, err := decodeRecord(plain)
	clear(plain)
	if err != nil {
		return record{}, providers.Errorf(providers.Internal, fmt.Errorf("embedded store: %q: %w: %w", ref.String(), ErrDamaged, err),
			"record is malformed")
	}
	return rec, nil
}

// Put stores s's attributes at ref as the next version (the first is "1"),
// stamped with the current time. s.Version and s.UpdatedAt are ignored. The
// write is synced to disk before Put returns. An existing record that fails
// authentication is not overwritten: Delete it first.
func (p *Provider) Put(ctx context.Context, ref providers.Ref, s *providers.Secret) error {
	return classified(p.put(ctx, ref, s))
}

func (p *Provider) put(ctx context.Context, ref providers.Ref, s *providers.Secret) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("embedded store: put %q: %w", ref.String(), err)
	}
	if err := p.writable(); err != nil {
		return err
	}
	key, err := recordKey(ref)
	if err != nil {
		return err
	}
	if s == nil {
		return providers.Errorf(providers.InvalidArgument, ErrInvalidRef, "secret is nil")
	}
	aad := recordAAD(key)
	return p.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSecrets)
		rec := record{version: 1, updated: time.Now().UTC(), attrs: s.Attributes}
		if old := b.Get(key); old != nil {
			prev, err := p.openRecord(ref, key, old)
			if err != nil {
				var pe *providers.Error
				if errors.As(err, &pe) {
					pe.Reason = "the existing " + pe.Reason + "; delete it before writing it again"
				}
				return err
			}
			rec.version = prev.version + 1
		}
		plain := encodeRecord(rec)
		sealed := seal(p.aead, aad, plain)
		clear(plain)
		return b.Put(key, sealed)
	})
}

// Delete removes the secret at ref. Deleting a missing secret is NotFound.
func (p *Provider) Delete(ctx context.Context, ref providers.Ref) error {
	return classified(p.delete(ctx, ref))
}

func (p *Provider) delete(ctx context.Context, ref providers.Ref) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("embedded store: delete %q: %w", ref.String(), err)
	}
	if err := p.writable(); err != nil {
		return err
	}
	key, err := recordKey(ref)
	if err != nil {
		return err
	}
	return p.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSecrets)
		if b.Get(key) == nil {
			return notFound(ref)
		}
		return b.Delete(key)
	})
}

// List returns the names stored at location that begin with prefix, in
// byte order ("" lists every name at location). It reads names only: no
// record is decrypted, so a damaged record still shows up here and fails in
// Get. It is meant for the admin CLI.
func (p *Provider) List(ctx context.Context, location, prefix string) ([]string, error) {
	names, err := p.list(ctx, location, prefix)
	return names, classified(err)
}

func (p *Provider) list(ctx context.Context, location, prefix string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("embedded store: list: %w", err)
	}
	for i := 0; i < len(location); i++ {
		if location[i] == 0 {
			return nil, providers.Errorf(providers.InvalidArgument, ErrInvalidRef, "location contains a NUL byte")
		}
	}
	start := append(append([]byte(location), 0), prefix...)
	skip := len(location) + 1
	var names []string
	err := p.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketSecrets).Cursor()
		for k, _ := c.Seek(start); k != nil && bytes.HasPrefix(k, start); k, _ = c.Next() {
			names = append(names, string(k[skip:]))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return names, nil
}

// writable returns nil when Put and Delete may write: the Provider is open
// and not read-only.
func (p *Provider) writable() error {
	if p.closed.Load() {
		return fmt.Errorf("embedded store: %w", ErrClosed)
	}
	if p.readOnly {
		return p.notWritable()
	}
	return nil
}

// Writable reports whether Put and Delete are allowed: the store was not
// opened with Config.Writable false.
func (p *Provider) Writable() bool { return !p.readOnly }

// Check reports whether the store is usable: the Provider is open, the file
// reads, its buckets are there and the key still opens the key check
// record. It decrypts no secret. Its errors are classified like Get's: a
// closed Provider is FailedPrecondition, a key that no longer opens the
// store FailedPrecondition (ErrWrongKey), a damaged file Internal.
func (p *Provider) Check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("embedded store: check: %w", err)
	}
	return classified(p.view(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil || tx.Bucket(bucketSecrets) == nil {
			return providers.Errorf(providers.Internal, fmt.Errorf("embedded store: %w: its buckets are missing", ErrDamaged), reasonDamaged)
		}
		plain, err := unseal(p.aead, keyCheckAAD, meta.Get(metaKeyCheck))
		if err != nil || string(plain) != keyCheckText {
			return providers.Errorf(providers.FailedPrecondition, fmt.Errorf("embedded store: key check: %w", ErrWrongKey),
				"the key does not open the embedded store's key check (wrong key, or the file was replaced)")
		}
		return nil
	}))
}

// Close closes the store file and releases its lock. Calls after the first
// return nil; Get, Put, Delete, List and Check on a closed Provider fail
// with ErrClosed (FailedPrecondition).
func (p *Provider) Close() error {
	if p.closed.Swap(true) {
		return nil
	}
	return p.db.Close()
}
