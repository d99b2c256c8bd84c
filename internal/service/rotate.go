package service

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/imapmigrate/imapmigrate/internal/secret"
	"github.com/imapmigrate/imapmigrate/internal/store"
)

// sealedColumn is a column that holds values sealed by package secret, with
// what binds each value to its row (the associated data given to Seal).
type sealedColumn struct {
	table, owner, column string
	what                 string // names the owner in errors: "endpoint", "user"
	ad                   func(owner string) string
}

// sealedColumns are all the places where secrets are stored. A new sealed
// column must be added here, or key rotation leaves it unreadable.
var sealedColumns = []sealedColumn{
	{"endpoints", "name", "admin_password", "endpoint", endpointAD},
	{"batch_users", "email", "source_password", "user", func(email string) string { return userAD(email, "source_password") }},
	{"batch_users", "email", "dest_password", "user", func(email string) string { return userAD(email, "dest_password") }},
	{"endpoints", "name", "oauth_secrets", "endpoint", oauthAD},
	{"batch_users", "email", sourceRefreshColumn, "user", func(email string) string { return userAD(email, sourceRefreshColumn) }},
	{"batch_users", "email", destRefreshColumn, "user", func(email string) string { return userAD(email, destRefreshColumn) }},
}

// RotateKey re-seals every stored secret: it opens each with oldKey and
// seals it again with newKey, bound to the same owner. It works in one
// transaction, so either every value is re-sealed or, when one does not open
// with oldKey (the error names its row and column), none is. Empty values
// stay empty. It returns how many values were re-sealed.
//
// No process may use the database meanwhile with the old key: one that
// stores a password after the rotation seals it with a key the others no
// longer have. On PostgreSQL the tables are locked against writes for the
// transaction, so at least the rotation itself sees a fixed set of values.
func RotateKey(ctx context.Context, db *store.DB, oldKey, newKey *secret.Key) (n int, err error) {
	err = resealTx(ctx, db, func(tx *sql.Tx) error {
		n, err = reseal(ctx, tx, oldKey, newKey)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("rotate secret key: %w", err)
	}
	return n, nil
}

// CheckKey reports whether every stored secret opens with key: nil, or an
// error naming the first that does not. It tells which of two keys is the
// database's after an interrupted rotation. It changes nothing.
func CheckKey(ctx context.Context, db *store.DB, key *secret.Key) error {
	tx, err := db.SQL().BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("check secret key: %w", err)
	}
	defer tx.Rollback()
	if _, err := reseal(ctx, tx, key, nil); err != nil {
		return fmt.Errorf("check secret key: %w", err)
	}
	return nil
}

// resealTx runs f in a transaction whose commit is durable. SQLite in WAL
// mode with synchronous=NORMAL (see store.Open) may lose the last commits
// at a power cut; losing this one after the new key file has replaced the
// old one would leave a database that the key in place cannot open. So the
// rotation pins the store's connection and raises it to synchronous=FULL
// for its transaction.
func resealTx(ctx context.Context, db *store.DB, f func(tx *sql.Tx) error) error {
	conn, err := db.SQL().Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if db.Dialect() == store.SQLite {
		if _, err := conn.ExecContext(ctx, `PRAGMA synchronous = FULL`); err != nil {
			return err
		}
		// The store's setting again, for whoever uses the connection next.
		defer conn.ExecContext(context.WithoutCancel(ctx), `PRAGMA synchronous = NORMAL`)
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if db.Dialect() == store.Postgres {
		// Readers go on; writers (a serve or worker that was not stopped)
		// wait for the rotation.
		if _, err := tx.ExecContext(ctx, `LOCK TABLE endpoints, batch_users IN EXCLUSIVE MODE`); err != nil {
			return err
		}
	}
	if err := f(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// reseal opens every sealed value with oldKey and, unless newKey is nil,
// stores it sealed with newKey. It returns how many values it opened.
func reseal(ctx context.Context, tx *sql.Tx, oldKey, newKey *secret.Key) (int, error) {
	n := 0
	for _, c := range sealedColumns {
		type row struct {
			id            int64
			owner, sealed string
		}
		// All rows are read before the first update: a transaction has one
		// connection, and pgx cannot run a statement on it while a result
		// is still being read.
		var todo []row
		rows, err := tx.QueryContext(ctx, `SELECT id, `+c.owner+`, `+c.column+` FROM `+c.table+
			` WHERE `+c.column+` <> '' ORDER BY id`)
		if err != nil {
			return 0, fmt.Errorf("read %s.%s: %w", c.table, c.column, err)
		}
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.id, &r.owner, &r.sealed); err != nil {
				rows.Close()
				return 0, fmt.Errorf("read %s.%s: %w", c.table, c.column, err)
			}
			todo = append(todo, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return 0, fmt.Errorf("read %s.%s: %w", c.table, c.column, err)
		}

		for _, r := range todo {
			ad := c.ad(r.owner)
			plain, err := oldKey.Open(r.sealed, ad)
			if err != nil {
				return 0, fmt.Errorf("open %s of %s %q: %w", c.column, c.what, r.owner, err)
			}
			n++
			if newKey == nil {
				continue
			}
			sealed, err := newKey.Seal(plain, ad)
			if err != nil {
				return 0, fmt.Errorf("seal %s of %s %q: %w", c.column, c.what, r.owner, err)
			}
			if _, err := tx.ExecContext(ctx, `UPDATE `+c.table+` SET `+c.column+` = $1 WHERE id = $2`, sealed, r.id); err != nil {
				return 0, fmt.Errorf("store %s of %s %q: %w", c.column, c.what, r.owner, err)
			}
		}
	}
	return n, nil
}
