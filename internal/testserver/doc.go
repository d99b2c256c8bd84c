// Package testserver provides what integration tests need to exercise a
// migration against a real IMAP server: an isolated Dovecot instance on a free
// 127.0.0.1 port (StartDovecot), a deterministic mail corpus (Corpus), a way
// to load it into a mailbox (Seed), and a read-only snapshot of a whole
// mailbox that can be compared with another (Take, Snapshot.Diff).
//
// Every Dovecot instance lives in its own temporary directory with its own
// base_dir, state_dir, log and instance_name, so tests can run in parallel.
// Only loopback addresses are ever used.
//
// Dovecot 2.3 must run as root here: it drops privileges to nobody (65534)
// for mail access and to dovenull for the login processes, which is why the
// directories are made traversable for those users. The settings follow
// the "minimal configuration that worked as root" of the reliability notes
// (§4.3) and the benchmark's dovecot.sh.
package testserver
