// Package store keeps what imapmigrate must remember between runs: for each
// mailbox migration, which source folder went where and which source message
// is at the destination under which UID with which flags.
//
// The default database is SQLite through modernc.org/sqlite (pure Go, so the
// binary builds with CGO_ENABLED=0); the service can use PostgreSQL instead
// (pgx), so that several workers share it. The SQL uses $N placeholders,
// which both accept; only the DDL differs, in migrations/sqlite and
// migrations/postgres.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

//go:embed migrations
var migrations embed.FS

// Dialects.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// DB is an open database: the engine's sync state and the service's
// tables. It is safe for concurrent use.
type DB struct {
	db      *sql.DB
	dialect string
	pool    *pgxpool.Pool // PostgreSQL only: River's driver wants pgx itself
}

// Open opens the database named by dsn and brings its schema up to date: a
// postgres:// or postgresql:// URL, or else the path of a SQLite file,
// created if needed.
func Open(ctx context.Context, dsn string) (*DB, error) {
	if IsPostgresURL(dsn) {
		return openPostgres(ctx, dsn)
	}
	return openSQLite(ctx, dsn)
}

// IsPostgresURL reports whether dsn names a PostgreSQL database.
func IsPostgresURL(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

func openSQLite(ctx context.Context, path string) (*DB, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create state directory: %w", err)
	}
	// WAL lets a reader (a status command) look while a sync writes;
	// busy_timeout makes a second process wait instead of failing at once;
	// foreign keys make ON DELETE CASCADE work, which SQLite leaves off by
	// default; secure_delete zeroes what is deleted, so that the sealed
	// passwords of a removed batch do not linger in free space (nor, after
	// the service's checkpoint, in the WAL). _txlock=immediate makes every
	// transaction take the write lock at BEGIN, waiting busy_timeout for
	// it: a transaction that reads and then writes (a lease claim) would
	// otherwise be refused at once, without waiting, when another process
	// holds the write lock at its first write or wrote since its first
	// read: SQLite does not wait to upgrade a read transaction. Past
	// busy_timeout a statement fails with SQLITE_BUSY (see FaultOf): the
	// service stops that pass, copying nothing it cannot record, and
	// resumes it later. cache_size caps SQLite's page cache at 512 KiB
	// rather than its default 2 MB: the cache fills with the pages of the
	// records a pass writes, so with the default a 50,000-message mailbox
	// took 4 MB more memory than a 2,000-message one, for no speed: the
	// pages the writes miss come from the kernel's page cache.
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_pragma=secure_delete(1)&_pragma=cache_size(-512)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open state database %s: %w", path, err)
	}
	// One connection: SQLite has one writer at a time, and a pool of
	// connections only turns that into SQLITE_BUSY errors. River's SQLite
	// driver asks for the same.
	db.SetMaxOpenConns(1)
	d := &DB{db: db, dialect: SQLite}
	if err := d.migrate(ctx, goose.DialectSQLite3); err != nil {
		db.Close()
		return nil, fmt.Errorf("open state database %s: %w", path, err)
	}
	return d, nil
}

func openPostgres(ctx context.Context, url string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's parse errors can quote the URL, password included.
		return nil, errors.New("open database: the PostgreSQL URL does not parse")
	}
	where := cfg.ConnConfig.Host + "/" + cfg.ConnConfig.Database
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", where, err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open database %s: %w", where, err)
	}
	d := &DB{db: stdlib.OpenDBFromPool(pool), dialect: Postgres, pool: pool}
	if err := d.migrate(ctx, goose.DialectPostgres); err != nil {
		d.Close()
		return nil, fmt.Errorf("open database %s: %w", where, err)
	}
	return d, nil
}

// migrate applies the dialect's migrations that are not applied yet.
func (d *DB) migrate(ctx context.Context, dialect goose.Dialect) error {
	if err := d.db.PingContext(ctx); err != nil {
		return err
	}
	dir, err := fs.Sub(migrations, "migrations/"+d.dialect)
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(dialect, d.db, dir)
	if err != nil {
		return fmt.Errorf("prepare schema: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("upgrade schema: %w", err)
	}
	return nil
}

// SQL is the database/sql handle, for the service's own queries. On SQLite
// it has one connection: never query through it while holding a
// transaction of it.
func (d *DB) SQL() *sql.DB { return d.db }

// Dialect is SQLite or Postgres.
func (d *DB) Dialect() string { return d.dialect }

// Pool is the pgx pool on PostgreSQL, nil on SQLite.
func (d *DB) Pool() *pgxpool.Pool { return d.pool }

// Close closes the database.
func (d *DB) Close() error {
	err := d.db.Close()
	if d.pool != nil {
		d.pool.Close()
	}
	return err
}

// Folder is the state of one source folder of one mailbox migration.
type Folder struct {
	ID                int64
	Mailbox           string // which migration: see mailsync.MailboxKey
	SourceName        string
	SourceUIDValidity uint32
	DestName          string
	DestUIDValidity   uint32
	// Settled is the source folder's figures when a pass last left it
	// complete; zero when it was not (see SettleFolders).
	Settled Figures
}

// Figures are what STATUS tells of a source folder without opening it.
// Equal figures at two moments mean the folder did not change between
// them: UIDNEXT grows with every new message, MESSAGES or UIDNEXT moves
// with every expunge, and HIGHESTMODSEQ (RFC 7162) grows with every flag
// change too. ModSeq is 0 when the source has no CONDSTORE, and then
// equal figures say nothing about flags.
type Figures struct {
	ModSeq   uint64
	UIDNext  uint32
	Messages uint32
}

// Message records that a source message is at the destination.
type Message struct {
	SourceUID   uint32
	DestUID     uint32 // 0 when the destination did not report it (no UIDPLUS)
	Flags       []string
	Fingerprint string
}

// Folders returns the state of every folder of a mailbox migration.
func (d *DB) Folders(ctx context.Context, mailbox string) ([]Folder, error) {
	rows, err := d.db.QueryContext(ctx,
		`SELECT id, source_name, source_uidvalidity, dest_name, dest_uidvalidity, source_modseq, source_uidnext, source_messages
		 FROM sync_folders WHERE mailbox = $1 ORDER BY source_name`,
		mailbox)
	if err != nil {
		return nil, fmt.Errorf("read folder states: %w", err)
	}
	defer rows.Close()
	var out []Folder
	for rows.Next() {
		f := Folder{Mailbox: mailbox}
		if err := rows.Scan(&f.ID, &f.SourceName, &f.SourceUIDValidity, &f.DestName, &f.DestUIDValidity, &f.Settled.ModSeq, &f.Settled.UIDNext, &f.Settled.Messages); err != nil {
			return nil, fmt.Errorf("read folder states: %w", err)
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

// SaveFolders saves the state of each folder, inserting or updating it
// and setting its ID, then records new flags of recorded messages (by
// folder), all in one transaction. It clears the settled figures (Settled
// too): a folder saved is one a pass is working on, complete again only
// when SettleFolders says so, so that a pass cut short never leaves
// figures that would let the next one skip it.
func (d *DB) SaveFolders(ctx context.Context, folders []*Folder, flags map[*Folder][]Message) error {
	if len(folders) == 0 && len(flags) == 0 {
		return nil
	}
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("save folder states: %w", err)
	}
	defer tx.Rollback()
	now := time.Now().UTC().Format(time.RFC3339)
	for _, f := range folders {
		err := tx.QueryRowContext(ctx, `
			INSERT INTO sync_folders (mailbox, source_name, source_uidvalidity, dest_name, dest_uidvalidity, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (mailbox, source_name) DO UPDATE SET
				source_uidvalidity = excluded.source_uidvalidity,
				dest_name = excluded.dest_name,
				dest_uidvalidity = excluded.dest_uidvalidity,
				source_modseq = 0, source_uidnext = 0, source_messages = 0,
				updated_at = excluded.updated_at
			RETURNING id`,
			f.Mailbox, f.SourceName, f.SourceUIDValidity, f.DestName, f.DestUIDValidity, now).Scan(&f.ID)
		if err != nil {
			return fmt.Errorf("save state of folder %q: %w", f.SourceName, err)
		}
		f.Settled = Figures{}
	}
	if len(flags) > 0 {
		stmt, err := tx.PrepareContext(ctx, `UPDATE sync_messages SET flags = $1 WHERE folder_id = $2 AND source_uid = $3`)
		if err != nil {
			return fmt.Errorf("record flags: %w", err)
		}
		defer stmt.Close()
		for f, msgs := range flags {
			for _, m := range msgs {
				if _, err := stmt.ExecContext(ctx, strings.Join(m.Flags, " "), f.ID, m.SourceUID); err != nil {
					return fmt.Errorf("record flags of source uid %d in folder %q: %w", m.SourceUID, f.SourceName, err)
				}
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("save folder states: %w", err)
	}
	return nil
}

// SettleFolders records, in one transaction, the figures a pass saw of
// the source folders it left complete (by folder ID), before it read them:
// the next pass skips a folder while STATUS shows the same figures.
func (d *DB) SettleFolders(ctx context.Context, figs map[int64]Figures) error {
	if len(figs) == 0 {
		return nil
	}
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("record folder figures: %w", err)
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, `UPDATE sync_folders SET source_modseq = $1, source_uidnext = $2, source_messages = $3 WHERE id = $4`)
	if err != nil {
		return fmt.Errorf("record folder figures: %w", err)
	}
	defer stmt.Close()
	for id, fig := range figs {
		if _, err := stmt.ExecContext(ctx, int64(fig.ModSeq), fig.UIDNext, fig.Messages, id); err != nil {
			return fmt.Errorf("record figures of folder %d: %w", id, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("record folder figures: %w", err)
	}
	return nil
}

// CountMessages returns how many messages of a folder are recorded.
func (d *DB) CountMessages(ctx context.Context, folderID int64) (int, error) {
	var n int
	if err := d.db.QueryRowContext(ctx, `SELECT count(*) FROM sync_messages WHERE folder_id = $1`, folderID).Scan(&n); err != nil {
		return 0, fmt.Errorf("count message states of folder %d: %w", folderID, err)
	}
	return n, nil
}

// RenameFolder gives a folder's state the name its source folder has now,
// for a folder renamed at the source: what is recorded of its messages
// stays valid, since a rename keeps the UIDs.
func (d *DB) RenameFolder(ctx context.Context, folderID int64, sourceName string) error {
	if _, err := d.db.ExecContext(ctx, `UPDATE sync_folders SET source_name = $1 WHERE id = $2`, sourceName, folderID); err != nil {
		return fmt.Errorf("rename state of folder %d to %q: %w", folderID, sourceName, err)
	}
	return nil
}

// ResetFolder forgets every message of a folder, for when a UIDVALIDITY
// change makes the recorded UIDs meaningless.
func (d *DB) ResetFolder(ctx context.Context, folderID int64) error {
	if _, err := d.db.ExecContext(ctx, `DELETE FROM sync_messages WHERE folder_id = $1`, folderID); err != nil {
		return fmt.Errorf("reset folder state: %w", err)
	}
	return nil
}

// Messages returns what is recorded of a folder's messages.
func (d *DB) Messages(ctx context.Context, folderID int64) ([]Message, error) {
	rows, err := d.db.QueryContext(ctx,
		`SELECT source_uid, dest_uid, flags, fingerprint FROM sync_messages WHERE folder_id = $1 ORDER BY source_uid`, folderID)
	if err != nil {
		return nil, fmt.Errorf("read message states: %w", err)
	}
	defer rows.Close()
	var out []Message
	for rows.Next() {
		var m Message
		var flags string
		if err := rows.Scan(&m.SourceUID, &m.DestUID, &flags, &m.Fingerprint); err != nil {
			return nil, fmt.Errorf("read message states: %w", err)
		}
		m.Flags = strings.Fields(flags)
		out = append(out, m)
	}
	return out, rows.Err()
}

// Recorded returns what a pass keeps of each recorded message of a
// folder: everything but the fingerprint of a copy whose destination UID
// is known, since the pass tells that copy by its UID (fingerprints are a
// good part of the memory a large folder's records take). Messages with
// the same flags share one Flags slice, which must not be changed in place.
func (d *DB) Recorded(ctx context.Context, folderID int64) ([]Message, error) {
	rows, err := d.db.QueryContext(ctx,
		`SELECT source_uid, dest_uid, flags, CASE WHEN dest_uid = 0 THEN fingerprint ELSE '' END
		 FROM sync_messages WHERE folder_id = $1 ORDER BY source_uid`, folderID)
	if err != nil {
		return nil, fmt.Errorf("read message states: %w", err)
	}
	defer rows.Close()
	var out []Message
	shared := map[string][]string{}
	var flags []byte
	for rows.Next() {
		var m Message
		if err := rows.Scan(&m.SourceUID, &m.DestUID, &flags, &m.Fingerprint); err != nil {
			return nil, fmt.Errorf("read message states: %w", err)
		}
		f, ok := shared[string(flags)]
		if !ok {
			f = strings.Fields(string(flags))
			shared[string(flags)] = f
		}
		m.Flags = f
		out = append(out, m)
	}
	return out, rows.Err()
}

// PutMessages records messages of a folder in one transaction, so that a
// batch of copies costs one commit rather than one fsync each.
func (d *DB) PutMessages(ctx context.Context, folderID int64, msgs []Message) error {
	if len(msgs) == 0 {
		return nil
	}
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("record messages: %w", err)
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, `
		INSERT INTO sync_messages (folder_id, source_uid, dest_uid, flags, fingerprint) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (folder_id, source_uid) DO UPDATE SET
			dest_uid = excluded.dest_uid, flags = excluded.flags, fingerprint = excluded.fingerprint`)
	if err != nil {
		return fmt.Errorf("record messages: %w", err)
	}
	defer stmt.Close()
	for _, m := range msgs {
		if _, err := stmt.ExecContext(ctx, folderID, m.SourceUID, m.DestUID, strings.Join(m.Flags, " "), m.Fingerprint); err != nil {
			return fmt.Errorf("record source uid %d: %w", m.SourceUID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("record messages: %w", err)
	}
	return nil
}
