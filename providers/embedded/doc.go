// Package embedded is the broker's own secret store: a provider that keeps
// credentials in one local bbolt file, each record sealed with AES-256-GCM
// under a 32-byte key kept in a separate key file. It is meant for sites
// without an enterprise vault, for tests and demonstrations, and as a local
// fallback; it implements providers.Provider (Writable unless configured
// writable: false), and its List method serves the admin CLI.
//
// # Files
//
// The key file holds the key as 64 hexadecimal characters (upper or lower
// case) and an optional trailing newline ("\n" or "\r\n"); nothing else. Its
// mode must be 0600 or stricter: New refuses a key file that group or others
// may read or write. Keep a copy of it apart from the store: without it the
// store cannot be read, and New never creates a fresh key for an existing
// store. Nor does it create an empty store beside an existing key file:
// that store was lost, and starting empty would turn every credential into
// NotFound. On Unix, New refuses a store or key file that belongs to
// another user than the daemon's.
//
// The store file is a bbolt database (format version 1) with two buckets:
//
//	meta     "format"   = one byte, the store format version (1)
//	         "keycheck" = a known plaintext sealed with the key (AAD 0x01 'k'),
//	                      so New detects a wrong key at once
//	secrets  Location + 0x00 + Name = a sealed record
//
// A sealed record (or key check) is
//
//	format version (1 byte, 0x01) | nonce (12 random bytes) | AES-256-GCM ciphertext and tag
//
// with additional authenticated data 0x01 'r' Location 0x00 Name for a
// record, so a record copied under another name or location fails to open.
// The format byte is covered by the authentication too. A fresh nonce is
// drawn from crypto/rand for every write; with random 96-bit nonces a key
// should seal fewer than 2^32 records, far beyond a credential store's
// lifetime of writes.
//
// The plaintext of a record is a binary encoding, so attribute names and
// values are arbitrary bytes (NUL, invalid UTF-8) and round-trip exactly:
//
//	uvarint version | varint updated-at (Unix nanoseconds, UTC) | uvarint count |
//	count × (uvarint len | name bytes | uvarint len | value bytes), names sorted
//
// # Versions
//
// Each Put of a name bumps its version: "1", "2", ... Only the current
// version is kept: a Ref.Version that names another version is NotFound with
// a reason that says so. Deleting a secret forgets it: a later Put starts
// again at version "1".
//
// # Concurrency and durability
//
// Every Put and Delete is one bbolt transaction, synced to disk before it
// returns; a crash leaves every acknowledged write in place. bbolt locks the
// file: one process (and within a process, one Provider) may open a store
// for writing at a time, while several read-only Providers may share it. A
// Provider itself is safe for concurrent use.
package embedded
