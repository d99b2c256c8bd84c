// Command demo shows imapmigrate at work on this machine with nothing to set
// up: it starts two throwaway Dovecot servers on loopback (source and
// destination), fills the source with generated mail, and runs the real
// `imapmigrate sync` command twice: the initial copy, then an incremental
// pass after new mail and flag changes. With -bench it prints throughput
// and peak memory of the initial copy instead of the full demo output.
//
// With -service it shows the migration service instead: `imapmigrate serve`
// on its embedded SQLite database, driven through the CLI as an
// administrator would (see service.go).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/imapmigrate/imapmigrate/internal/testserver"
)

func main() {
	bin := flag.String("bin", "bin/imapmigrate", "imapmigrate binary to run")
	messages := flag.Int("messages", 2000, "messages to generate")
	bench := flag.Bool("bench", false, "measure the initial copy: msgs/s, MB/s, peak RSS")
	big := flag.Int("big-every", 400, "every Nth message carries a 1-3 MB attachment (0: none)")
	huge := flag.Int("huge", 0, "add this many messages of 30 MB (to measure memory with large messages)")
	keep := flag.Bool("keep", false, "leave the servers running until interrupted")
	syncArgs := flag.String("sync-args", "", "extra arguments for every imapmigrate sync run (space separated), e.g. --connections 2")
	service := flag.Bool("service", false, "show the migration service (imapmigrate serve, endpoints, a batch) instead of one sync")
	users := flag.Int("users", 8, "with -service: mailboxes in the batch (at least 3)")
	userMessages := flag.Int("user-messages", 150, "with -service: messages generated per mailbox")
	flag.Parse()
	if *service {
		if err := runService(*bin, *users, *userMessages, *keep); err != nil {
			fmt.Fprintln(os.Stderr, "demo:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(*bin, *messages, *big, *huge, *bench, *keep, strings.Fields(*syncArgs)); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(bin string, messages, bigEvery, huge int, bench, keep bool, syncArgs []string) error {
	// Stop the servers (deferred below) on Ctrl-C, SIGTERM or a closed terminal.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	users := map[string]string{"alice@example.com": "alice-source-pw"}
	src, err := testserver.Start(testserver.DovecotConfig{Users: users, SpecialUse: true})
	if err != nil {
		return fmt.Errorf("start source server: %w", err)
	}
	defer src.Stop()
	dstUsers := map[string]string{"alice@example.com": "alice-dest-pw"}
	dst, err := testserver.Start(testserver.DovecotConfig{Users: dstUsers, SpecialUse: true})
	if err != nil {
		return fmt.Errorf("start destination server: %w", err)
	}
	defer dst.Stop()
	fmt.Printf("source Dovecot at %s, destination Dovecot at %s\n", src.Addr, dst.Addr)

	folders := []string{"INBOX", "Sent", "Drafts", "Trash", "Archive/2019", "Archive/2020", "Projects/Alpha", "Entwürfe", "日本語", "Clients/Müller GmbH"}
	msgs := testserver.Corpus(testserver.CorpusOptions{Seed: 1, Messages: messages, Folders: folders, MinSize: 2 << 10, MaxSize: 60 << 10, BigEvery: bigEvery})
	for i := range huge {
		msgs = append(msgs, hugeMessage(i))
	}
	var total int64
	for _, m := range msgs {
		total += int64(len(m.Raw))
	}
	fmt.Printf("generating %d messages (%.1f MB) in %d folders at the source...\n", len(msgs), float64(total)/1e6, len(folders))
	if err := testserver.Seed(ctx, src.Addr, "alice@example.com", users["alice@example.com"], msgs); err != nil {
		return fmt.Errorf("seed source: %w", err)
	}

	dir, err := os.MkdirTemp("", "imapmigrate-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	pw1, pw2 := filepath.Join(dir, "pw1"), filepath.Join(dir, "pw2")
	os.WriteFile(pw1, []byte(users["alice@example.com"]+"\n"), 0o600)
	os.WriteFile(pw2, []byte(dstUsers["alice@example.com"]+"\n"), 0o600)
	// sync runs `imapmigrate sync` with the contract's flags, under wrap
	// (a command and its arguments put in front, such as GNU time) if any.
	sync := func(wrap []string, extra ...string) (time.Duration, error) {
		args := append([]string{"sync",
			"--source", src.Addr, "--source-user", "alice@example.com", "--source-password-file", pw1, "--source-security", "none",
			"--dest", dst.Addr, "--dest-user", "alice@example.com", "--dest-password-file", pw2, "--dest-security", "none",
			"--state", filepath.Join(dir, "state.db")}, append(syncArgs, extra...)...)
		fmt.Printf("\n$ imapmigrate %s\n", strings.Join(args, " "))
		argv := append(append(wrap, bin), args...)
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		start := time.Now()
		err := cmd.Run()
		return time.Since(start), err
	}

	if bench {
		// Peak RSS comes from GNU time: the rusage of a child started by a
		// Go program reports the parent's peak (the child shares the
		// parent's memory until exec, and Linux keeps that high-water mark).
		rssFile := filepath.Join(dir, "rss")
		d, err := sync([]string{"/usr/bin/time", "-f", "%M", "-o", rssFile})
		if err != nil {
			return err
		}
		b, err := os.ReadFile(rssFile)
		if err != nil {
			return fmt.Errorf("read peak RSS from GNU time: %w", err)
		}
		var rssKB float64
		fmt.Sscan(strings.TrimSpace(string(b)), &rssKB)
		fmt.Printf("\nbench: msgs=%d bytes=%d wall_s=%.2f msgs_per_s=%.1f MB_per_s=%.2f peak_rss_mb=%.1f\n",
			len(msgs), total, d.Seconds(), float64(len(msgs))/d.Seconds(), float64(total)/1e6/d.Seconds(), rssKB/1024)
		return nil
	}

	if _, err := sync(nil, "--dry-run"); err != nil {
		return err
	}
	if _, err := sync(nil); err != nil {
		return err
	}
	fmt.Println("\nnew mail arrives at the source; two messages are flagged and marked unread there...")
	if err := changeSource(ctx, src.Addr, users["alice@example.com"]); err != nil {
		return err
	}
	if _, err := sync(nil); err != nil {
		return err
	}
	if keep {
		fmt.Printf("\nservers keep running (source %s, destination %s); press Ctrl-C to stop\n", src.Addr, dst.Addr)
		<-ctx.Done()
	}
	return nil
}

// changeSource delivers one new message and flags two and marks them
// unread, as a user would between two passes.
func changeSource(ctx context.Context, addr, password string) error {
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Login("alice@example.com", password).Wait(); err != nil {
		return err
	}
	msg := "From: Bob <bob@example.com>\r\nTo: alice@example.com\r\nSubject: New after the first pass\r\nMessage-ID: <demo-new@example.com>\r\nDate: " +
		time.Now().Format(time.RFC1123Z) + "\r\n\r\nHello again.\r\n"
	cmd := c.Append("INBOX", int64(len(msg)), nil)
	cmd.Write([]byte(msg))
	cmd.Close()
	if _, err := cmd.Wait(); err != nil {
		return err
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		return err
	}
	if err := c.Store(imap.SeqSetNum(1, 2), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagFlagged}}, nil).Close(); err != nil {
		return err
	}
	return c.Store(imap.SeqSetNum(1, 2), &imap.StoreFlags{Op: imap.StoreFlagsDel, Silent: true, Flags: []imap.Flag{imap.FlagSeen}}, nil).Close()
}

// hugeMessage is a 30 MB message with a base64 attachment, as found in the
// mailboxes that make migrations run out of memory.
func hugeMessage(i int) testserver.Message {
	var b strings.Builder
	fmt.Fprintf(&b, "From: Carol <carol@example.com>\r\nTo: alice@example.com\r\nSubject: Scans %d\r\nMessage-ID: <huge-%d@example.com>\r\n", i, i)
	b.WriteString("Date: Tue, 3 Jan 2023 10:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n")
	b.WriteString("--b\r\nContent-Type: text/plain\r\n\r\nThe scans.\r\n--b\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	line := strings.Repeat("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo", 3)[:76] + "\r\n"
	for b.Len() < 30<<20 {
		b.WriteString(line)
	}
	b.WriteString("--b--\r\n")
	return testserver.Message{Folder: "INBOX", Raw: []byte(b.String()), Date: time.Date(2023, 1, 3, 10, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Hour)}
}
