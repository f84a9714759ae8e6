package audit

import (
	"encoding/json"
	"io"
	"path/filepath"
	"testing"
)

// BenchmarkWrite measures one Write to a file, without Sync: what every
// request pays.
func BenchmarkWrite(b *testing.B) {
	l, err := Open(Options{Path: filepath.Join(b.TempDir(), "audit.log")})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	e := typicalEntry()
	b.ReportAllocs()
	for b.Loop() {
		if err := l.Write(e); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWriteParallel is BenchmarkWrite from GOMAXPROCS goroutines.
func BenchmarkWriteParallel(b *testing.B) {
	l, err := Open(Options{Path: filepath.Join(b.TempDir(), "audit.log")})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		e := typicalEntry()
		for pb.Next() {
			if err := l.Write(e); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkWriteDiscard is Write without the file system: encoding,
// hashing and locking.
func BenchmarkWriteDiscard(b *testing.B) {
	l, err := Open(Options{Path: "-", Writer: io.Discard})
	if err != nil {
		b.Fatal(err)
	}
	e := typicalEntry()
	b.ReportAllocs()
	for b.Loop() {
		if err := l.Write(e); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEntryJSON compares the hand-written encoder with encoding/json
// on the same entry.
func BenchmarkEntryJSON(b *testing.B) {
	e := typicalEntry()
	b.Run("appendBody", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 1024)
		for b.Loop() {
			buf, _ = e.appendBody(buf[:0], clock0)
		}
	})
	type plain Entry // no MarshalJSON: encoding/json's reflection
	p := (*plain)(e)
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(p); err != nil {
				b.Fatal(err)
			}
		}
	})
}
