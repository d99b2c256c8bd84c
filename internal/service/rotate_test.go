package service

import (
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"maps"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imapmigrate/imapmigrate/internal/secret"
	"github.com/imapmigrate/imapmigrate/internal/store"
	"github.com/imapmigrate/imapmigrate/internal/testserver"
)

func TestRotateKey(t *testing.T) {
	t.Run("SQLite", func(t *testing.T) {
		t.Parallel()
		testRotateKey(t, filepath.Join(t.TempDir(), "imapmigrate.db"))
	})
	t.Run("Postgres", func(t *testing.T) {
		t.Parallel()
		testRotateKey(t, testserver.StartPostgres(t))
	})
}

func testRotateKey(t *testing.T, dsn string) {
	ctx := t.Context()
	db, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	oldKey, newKey := mustNewKey(t), mustNewKey(t)
	svc := mustNewService(t, db, oldKey)

	if _, err := svc.AddEndpoint(ctx, EndpointSpec{Endpoint: Endpoint{Name: "src", Host: "imap.old.example"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.AddEndpoint(ctx, EndpointSpec{AdminPassword: "master secret", Endpoint: Endpoint{
		Name: "dst", Host: "imap.new.example", Credentials: CredentialsAdmin, AdminFormat: AdminDovecot, AdminUser: "admin"}}); err != nil {
		t.Fatal(err)
	}
	// bob has no destination password: the admin logs in for him, and his
	// dest_password stays empty.
	csv := "EmailAddress,UserName,Password,DestinationUserName,DestinationPassword\n" +
		"alice@example.com,alice,alice-pw,alice@example.com,alice-dest-pw\n" +
		"bob@example.com,bob,bob-pw,,\n"
	if _, _, err := svc.CreateBatch(ctx, BatchSpec{Name: "b1", SourceEndpoint: "src", DestEndpoint: "dst", CSV: csv}); err != nil {
		t.Fatal(err)
	}
	before := sealedValues(t, db)
	want := map[string]string{
		endpointAD("dst"): "master secret",
		userAD("alice@example.com", "source_password"): "alice-pw",
		userAD("alice@example.com", "dest_password"):   "alice-dest-pw",
		userAD("bob@example.com", "source_password"):   "bob-pw",
	}
	if got := openAll(t, before, oldKey); !maps.Equal(got, want) {
		t.Fatalf("before rotation, opened values = %v; want %v", got, want)
	}

	n, err := RotateKey(ctx, db, oldKey, newKey)
	if err != nil {
		t.Fatalf("RotateKey = %v", err)
	}
	if n != len(want) {
		t.Errorf("RotateKey re-sealed %d values; want %d", n, len(want))
	}
	after := sealedValues(t, db)
	if got := openAll(t, after, newKey); !maps.Equal(got, want) {
		t.Errorf("after rotation, values opened with the new key = %v; want %v", got, want)
	}
	for ad, sealed := range after {
		if sealed == before[ad] {
			t.Errorf("%s: sealed value unchanged by the rotation", ad)
		}
		if _, err := oldKey.Open(sealed, ad); !errors.Is(err, secret.ErrDecrypt) {
			t.Errorf("%s: open with the old key = %v; want ErrDecrypt", ad, err)
		}
	}
	if err := CheckKey(ctx, db, newKey); err != nil {
		t.Errorf("CheckKey(new key) = %v", err)
	}
	if err := CheckKey(ctx, db, oldKey); err == nil {
		t.Error("CheckKey(old key) = nil; want an error")
	}

	// A service with the new key reads everything; one with the old key
	// cannot read the admin password.
	fresh := mustNewService(t, db, newKey)
	if e, err := fresh.Endpoint(ctx, "dst"); err != nil || !e.HasAdminPassword {
		t.Errorf("new key: Endpoint(dst) = %+v, %v", e, err)
	}
	if users, err := fresh.Users(ctx, "b1"); err != nil || len(users) != 2 {
		t.Errorf("new key: Users(b1) = %d users, %v; want 2", len(users), err)
	}
	stale := mustNewService(t, db, oldKey)
	if _, err := stale.Endpoint(ctx, "dst"); err == nil || !strings.Contains(err.Error(), "secret key") {
		t.Errorf("old key: Endpoint(dst) = %v; want an error about the secret key", err)
	}

	t.Run("WrongOldKey", func(t *testing.T) {
		n, err := RotateKey(ctx, db, oldKey, mustNewKey(t))
		if err == nil || !strings.Contains(err.Error(), `admin_password of endpoint "dst"`) {
			t.Errorf("RotateKey(wrong old key) = %d, %v; want an error naming endpoint dst's admin_password", n, err)
		}
		if got := sealedValues(t, db); !maps.Equal(got, after) {
			t.Error("a failed rotation changed the database")
		}
	})

	t.Run("OneBadValueKeepsAll", func(t *testing.T) {
		// Every value but bob's opens: the rotation must not keep the
		// values it re-sealed before reaching him.
		garbled, err := mustNewKey(t).Seal("x", userAD("bob@example.com", "source_password"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.SQL().ExecContext(ctx, `UPDATE batch_users SET source_password = $1 WHERE email = $2`,
			garbled, "bob@example.com"); err != nil {
			t.Fatal(err)
		}
		before := sealedValues(t, db)
		_, err = RotateKey(ctx, db, newKey, mustNewKey(t))
		if err == nil || !strings.Contains(err.Error(), `source_password of user "bob@example.com"`) {
			t.Errorf("RotateKey = %v; want an error naming bob's source_password", err)
		}
		if got := sealedValues(t, db); !maps.Equal(got, before) {
			t.Error("a failed rotation changed the database")
		}
	})
}

func mustNewKey(tb testing.TB) *secret.Key {
	tb.Helper()
	raw := make([]byte, 32)
	rand.Read(raw)
	k, err := secret.NewKey(raw)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

func mustNewService(tb testing.TB, db *store.DB, key *secret.Key) *Service {
	tb.Helper()
	s, err := New(context.Background(), Config{DB: db, Key: key, NoWork: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// sealedValues reads every non-empty sealed value, by its associated data.
func sealedValues(tb testing.TB, db *store.DB) map[string]string {
	tb.Helper()
	out := map[string]string{}
	read := func(query string, ad func(owner, column string) string, columns ...string) {
		rows, err := db.SQL().Query(query)
		if err != nil {
			tb.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var owner string
			vals := make([]string, len(columns))
			dest := []any{&owner}
			for i := range vals {
				dest = append(dest, &vals[i])
			}
			if err := rows.Scan(dest...); err != nil {
				tb.Fatal(err)
			}
			for i, v := range vals {
				if v != "" {
					out[ad(owner, columns[i])] = v
				}
			}
		}
		if err := rows.Err(); err != nil {
			tb.Fatal(err)
		}
	}
	read(`SELECT name, admin_password FROM endpoints`, func(name, _ string) string { return endpointAD(name) }, "admin_password")
	read(`SELECT email, source_password, dest_password FROM batch_users`, userAD, "source_password", "dest_password")
	return out
}

// openAll opens sealed values (by associated data) with key.
func openAll(tb testing.TB, sealed map[string]string, key *secret.Key) map[string]string {
	tb.Helper()
	out := map[string]string{}
	for ad, v := range sealed {
		plain, err := key.Open(v, ad)
		if err != nil {
			tb.Errorf("open %s: %v", ad, err)
			continue
		}
		out[ad] = plain
	}
	return out
}
