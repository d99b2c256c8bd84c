package store_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/imapmigrate/imapmigrate/internal/store"
	"github.com/imapmigrate/imapmigrate/internal/testserver"
)

// benchDatabases opens each dialect the engine writes its state to:
// SQLite always, PostgreSQL when IMAPMIGRATE_INTEGRATION=1 (skipped
// otherwise).
func benchDatabases(b *testing.B, run func(b *testing.B, db *store.DB)) {
	for _, dialect := range []string{store.SQLite, store.Postgres} {
		b.Run(dialect, func(b *testing.B) {
			dsn := filepath.Join(b.TempDir(), "state.db")
			if dialect == store.Postgres {
				dsn = testserver.StartPostgres(b)
			}
			db, err := store.Open(context.Background(), dsn)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { db.Close() })
			run(b, db)
		})
	}
}

// records are what the engine records after the destination's OK: UIDs,
// the flags written and the fingerprint.
func records(from, n int) []store.Message {
	msgs := make([]store.Message, n)
	for i := range msgs {
		uid := uint32(from + i)
		msgs[i] = store.Message{SourceUID: uid, DestUID: uid + 7, Flags: []string{`\Seen`, "$label1"},
			Fingerprint: fmt.Sprintf("%040x", uid)}
	}
	return msgs
}

// BenchmarkPutMessages is the state write of the copy: the engine records
// copied messages in batches of 64 (mailsync's flushEvery), one transaction
// each. Reported per batch; msgs/s is what the state database can take.
func BenchmarkPutMessages(b *testing.B) {
	const batch = 64
	benchDatabases(b, func(b *testing.B, db *store.DB) {
		ctx := context.Background()
		f := &store.Folder{Mailbox: "bench", SourceName: "INBOX", SourceUIDValidity: 1, DestName: "INBOX", DestUIDValidity: 2}
		if err := db.SaveFolders(ctx, []*store.Folder{f}, nil); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			if err := db.PutMessages(ctx, f.ID, records(n, batch)); err != nil {
				b.Fatal(err)
			}
			n += batch
		}
		b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "msgs/s")
	})
}

// BenchmarkRecorded reads a folder's records, as every pass does for every
// folder it scans before deciding what is new: a folder of 5,000 messages.
func BenchmarkRecorded(b *testing.B) {
	const n = 5000
	benchDatabases(b, func(b *testing.B, db *store.DB) {
		ctx := context.Background()
		f := &store.Folder{Mailbox: "bench", SourceName: "INBOX", SourceUIDValidity: 1, DestName: "INBOX", DestUIDValidity: 2}
		if err := db.SaveFolders(ctx, []*store.Folder{f}, nil); err != nil {
			b.Fatal(err)
		}
		if err := db.PutMessages(ctx, f.ID, records(1, n)); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			got, err := db.Recorded(ctx, f.ID)
			if err != nil || len(got) != n {
				b.Fatalf("Recorded() = %d records, %v; want %d", len(got), err, n)
			}
		}
	})
}

// BenchmarkOpen opens an existing SQLite state database, as every
// `imapmigrate sync` run does before anything else: the schema check is
// part of each pass's fixed cost.
func BenchmarkOpen(b *testing.B) {
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "state.db")
	db, err := store.Open(ctx, path)
	if err != nil {
		b.Fatal(err)
	}
	db.Close()
	b.ReportAllocs()
	for b.Loop() {
		db, err := store.Open(ctx, path)
		if err != nil {
			b.Fatal(err)
		}
		db.Close()
	}
}
