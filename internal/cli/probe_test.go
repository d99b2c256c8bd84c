package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/imapmigrate/imapmigrate/internal/folder"
	"github.com/imapmigrate/imapmigrate/internal/imapconn"
	"github.com/imapmigrate/imapmigrate/internal/probe"
	"github.com/imapmigrate/imapmigrate/internal/provider"
	"github.com/imapmigrate/imapmigrate/internal/size"
	"github.com/imapmigrate/imapmigrate/internal/testserver"
)

// TestProfileFlags checks what --source-profile and --dest-profile make of
// the flags sync, verify and probe share, without connecting anywhere.
func TestProfileFlags(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := []string{"--source-user", "alice", "--source-password-file", pw, "--dest-user", "alice", "--dest-password-file", pw}
	tests := []struct {
		name    string
		args    []string
		wantErr string
		check   func(t *testing.T, mf *mailboxFlags, srcAddr, dstAddr string, srcSec, dstSec imapconn.Security, maxSize int64, rules folder.Rules)
	}{
		{
			name: "ServersFromProfiles",
			args: []string{"--source-profile", "gmail", "--dest-profile", "office365"},
			check: func(t *testing.T, mf *mailboxFlags, srcAddr, dstAddr string, srcSec, dstSec imapconn.Security, maxSize int64, rules folder.Rules) {
				if srcAddr != "imap.gmail.com:993" || dstAddr != "outlook.office365.com:993" || srcSec != imapconn.SecurityTLS || dstSec != imapconn.SecurityTLS {
					t.Errorf("servers %s %s, %s %s; want the profiles' with TLS", srcAddr, srcSec, dstAddr, dstSec)
				}
				if maxSize != 35<<20 {
					t.Errorf("max message size %d; want Office 365's 35 MiB", maxSize)
				}
				if !rules.NoGroupware || !strings.Contains(strings.Join(rules.Reserved, ","), "Files") || !strings.Contains(strings.Join(rules.NonMail, ","), "[Gmail]/Chats") {
					t.Errorf("folder rules %+v; want Gmail's non-mail and Office 365's reserved names", rules)
				}
				if provider.Connections(mf.srcProfile, mf.dstProfile) != 4 {
					t.Errorf("connections %d; want 4", provider.Connections(mf.srcProfile, mf.dstProfile))
				}
			},
		},
		{
			name: "ExplicitFlagsWin",
			args: []string{"--source-profile", "gmail", "--source", "127.0.0.1:1143", "--source-security", "none",
				"--dest-profile", "gmail", "--dest", "127.0.0.1:2143", "--max-message-size", "1MiB", "--include-folder", "INBOX"},
			check: func(t *testing.T, mf *mailboxFlags, srcAddr, dstAddr string, srcSec, dstSec imapconn.Security, maxSize int64, rules folder.Rules) {
				// A server given without security gets the port's default
				// at Dial, not the profile's TLS.
				if srcAddr != "127.0.0.1:1143" || srcSec != imapconn.SecurityNone || dstAddr != "127.0.0.1:2143" || dstSec != "" {
					t.Errorf("servers %s %q, %s %q; want the flags'", srcAddr, srcSec, dstAddr, dstSec)
				}
				if maxSize != 1<<20 || len(rules.Include) != 1 {
					t.Errorf("max size %d, include %v; want the flags'", maxSize, rules.Include)
				}
			},
		},
		{
			name: "GmailDestinationSizeLimit",
			args: []string{"--source", "127.0.0.1:1143", "--dest-profile", "gmail"},
			check: func(t *testing.T, mf *mailboxFlags, srcAddr, dstAddr string, srcSec, dstSec imapconn.Security, maxSize int64, rules folder.Rules) {
				if maxSize != 35651584 || rules.NoGroupware || rules.DestCaseSensitive {
					t.Errorf("max size %d, rules %+v; want Gmail's APPENDLIMIT and a generic source", maxSize, rules)
				}
			},
		},
		{
			name: "DovecotDestinationIsCaseSensitive",
			args: []string{"--source", "127.0.0.1:1143", "--dest", "127.0.0.1:2143", "--source-profile", "zimbra", "--dest-profile", "DOVECOT"},
			check: func(t *testing.T, mf *mailboxFlags, srcAddr, dstAddr string, srcSec, dstSec imapconn.Security, maxSize int64, rules folder.Rules) {
				if !rules.DestCaseSensitive || rules.NoGroupware || mf.dstProfile.Name != "dovecot" {
					t.Errorf("rules %+v; want a case-sensitive destination and a groupware source", rules)
				}
			},
		},
		{name: "UnknownProfile", args: []string{"--source-profile", "lotus", "--dest", "127.0.0.1:2143"},
			wantErr: `--source-profile: no provider profile "lotus"`},
		{name: "NoServer", args: []string{"--source-profile", "dovecot", "--dest", "127.0.0.1:2143"},
			wantErr: "--source is required"},
		{name: "NoAdminLoginAtGmail", args: []string{"--source-profile", "gmail", "--source-auth-user", "admin", "--dest", "127.0.0.1:2143"},
			wantErr: "--source-auth-user: gmail offers no admin login over IMAP"},
		{name: "ExchangeAdminLogin", args: []string{"--source-profile", "exchange", "--source", "127.0.0.1:1143", "--source-auth-user", "admin", "--dest", "127.0.0.1:2143"},
			wantErr: "give that as --source-user"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mf mailboxFlags
			cmd := &cobra.Command{Use: "x", RunE: func(*cobra.Command, []string) error { return nil }}
			mf.register(cmd)
			cmd.SetArgs(append(append([]string(nil), base...), tt.args...))
			cmd.SetOut(io.Discard)
			if err := cmd.Execute(); err != nil {
				t.Fatal(err)
			}
			opts, err := mf.options(io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("options() error = %v; want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, &mf, opts.Source.Addr, opts.Dest.Addr, opts.Source.Security, opts.Dest.Security, opts.MaxMessageSize, opts.Folders)
		})
	}
}

// probeBundle is a source mailbox on a Courier-style Dovecot (INBOX.
// prefix, "." separator) and an empty destination Dovecot that refuses a
// fourth connection, with the flags that name both.
type probeBundle struct {
	src, dst *testserver.Dovecot
	corpus   []testserver.Message
	args     []string
	dir      string
}

const (
	probeUser  = "carol@example.com"
	probeSrcPW = "source pw"
	probeDstPW = "dest pw"
)

func setupProbe(t *testing.T) *probeBundle {
	t.Helper()
	for _, env := range []string{"IMAPMIGRATE_SOURCE_PASSWORD", "IMAPMIGRATE_DEST_PASSWORD"} {
		t.Setenv(env, "")
	}
	pb := &probeBundle{dir: t.TempDir()}
	pb.src = testserver.StartDovecot(t, testserver.DovecotConfig{Users: map[string]string{probeUser: probeSrcPW}, Separator: ".", Prefix: "INBOX."})
	pb.dst = testserver.StartDovecot(t, testserver.DovecotConfig{Users: map[string]string{probeUser: probeDstPW},
		MaxUserIPConnections: 3, QuotaStorageKB: 50000})
	pb.corpus = testserver.Corpus(testserver.CorpusOptions{Seed: 6, Messages: 60,
		Folders: []string{"INBOX", "Archive/2019", "Notes", "Files", "Travel"}})
	// One message in two folders, as a Gmail message with two labels.
	label := pb.corpus[10]
	label.Folder = "Travel"
	if pb.corpus[10].Folder == label.Folder {
		label.Folder = "INBOX"
	}
	pb.corpus = append(pb.corpus, label)
	if err := testserver.Seed(context.Background(), pb.src.Addr, probeUser, probeSrcPW, pb.corpus); err != nil {
		t.Fatal(err)
	}
	write := func(name, content string) string {
		path := filepath.Join(pb.dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	pb.args = []string{
		"--source", pb.src.Addr, "--source-user", probeUser, "--source-security", "none", "--source-password-file", write("src.pw", probeSrcPW),
		"--dest", pb.dst.Addr, "--dest-user", probeUser, "--dest-security", "none", "--dest-password-file", write("dst.pw", probeDstPW),
		// A Dovecot source has no groupware folders: its Notes and Files
		// are mail, and Office 365 keeps those names for itself.
		"--source-profile", "dovecot", "--dest-profile", "office365",
	}
	return pb
}

func (pb *probeBundle) run(cmd string, extra ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = Main(context.Background(), append(append([]string{cmd}, pb.args...), extra...), &out, &errOut)
	return code, out.String(), errOut.String()
}

// corpusFolders adds up the corpus by display path.
func (pb *probeBundle) corpusFolders() map[string]probe.Folder {
	out := map[string]probe.Folder{}
	for _, m := range pb.corpus {
		fs := out[m.Folder]
		fs.Messages++
		fs.Bytes += int64(len(m.Raw))
		out[m.Folder] = fs
	}
	return out
}

// courierName is the source's name for a display path.
func courierName(display string) string {
	if display == "INBOX" {
		return display
	}
	return "INBOX." + strings.ReplaceAll(display, "/", ".")
}

func TestProbeCommand(t *testing.T) {
	pb := setupProbe(t)
	ctx := context.Background()
	srcBefore, err := testserver.Take(ctx, pb.src.Addr, probeUser, probeSrcPW)
	if err != nil {
		t.Fatal(err)
	}

	code, out, errOut := pb.run("probe", "--json", "--find-connection-limit", "5", "--sample-time", "30s")
	if code != ExitOK {
		t.Fatalf("probe exit %d; stderr %s", code, errOut)
	}
	var rep probe.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("probe --json: %v\n%s", err, out)
	}
	if rep.Source == nil || rep.Destination == nil || rep.Estimate == nil {
		t.Fatalf("probe --json lacks a side or the estimate:\n%s", out)
	}

	t.Run("SourceFigures", func(t *testing.T) {
		s := rep.Source
		want := pb.corpusFolders()
		got := map[string]probe.Folder{}
		for _, fs := range s.Folders {
			got[fs.Name] = fs
		}
		var total int64
		for display, w := range want {
			g := got[courierName(display)]
			if g.Messages != w.Messages || g.Bytes != w.Bytes || g.Error != "" || g.Skip != "" {
				t.Errorf("source folder %q: %+v; want %d messages, %d bytes, kept", courierName(display), g, w.Messages, w.Bytes)
			}
			total += w.Bytes
		}
		// Seed made INBOX.Archive as the parent of INBOX.Archive.2019.
		if a := got["INBOX.Archive"]; a.Name == "" || a.Messages != 0 {
			t.Errorf("source folder INBOX.Archive: %+v; want listed and empty", a)
		}
		if s.FolderCount != 6 || s.Messages != len(pb.corpus) || s.Bytes != total || s.SizeMethod != "STATUS SIZE" {
			t.Errorf("source totals: %d folders, %d messages, %d bytes by %s; want 6, %d, %d by STATUS SIZE",
				s.FolderCount, s.Messages, s.Bytes, s.SizeMethod, len(pb.corpus), total)
		}
		if len(s.Namespaces) == 0 || s.Namespaces[0] != (probe.Namespace{Kind: "personal", Prefix: "INBOX.", Separator: "."}) {
			t.Errorf("source namespaces %+v; want personal INBOX. with .", s.Namespaces)
		}
		if s.Profile != "dovecot" || s.User != probeUser || s.Server != pb.src.Addr {
			t.Errorf("source %s %s %s", s.Profile, s.User, s.Server)
		}
	})

	t.Run("Capabilities", func(t *testing.T) {
		want := map[string]bool{"UIDPLUS": true, "CONDSTORE": true, "QRESYNC": true, "SPECIAL-USE": false, "APPENDLIMIT": false,
			"LITERAL+": true, "COMPRESS=DEFLATE": false, "MOVE": true, "ID": true, "NAMESPACE": true, "STATUS=SIZE": true}
		for _, side := range []struct {
			sp    *probe.Side
			quota bool
		}{{rep.Source, false}, {rep.Destination, true}} {
			got := map[string]bool{}
			for _, c := range side.sp.Capabilities {
				got[c.Name] = c.Present
			}
			for name, present := range want {
				if p, ok := got[name]; !ok || p != present {
					t.Errorf("%s: capability %s present=%v (listed %v); want %v", side.sp.Server, name, p, ok, present)
				}
			}
			if got["QUOTA"] != side.quota {
				t.Errorf("%s: QUOTA %v; want %v (only the destination has the quota plugin)", side.sp.Server, got["QUOTA"], side.quota)
			}
		}
	})

	t.Run("Destination", func(t *testing.T) {
		d := rep.Destination
		if len(d.Quota) != 1 || d.Quota[0].Resource != "STORAGE" || d.Quota[0].Limit != 50000 || d.Quota[0].Usage != 0 {
			t.Errorf("destination quota %+v; want STORAGE 0 of 50000 KiB", d.Quota)
		}
		if d.FolderCount != 1 || d.Messages != 0 || len(d.Namespaces) == 0 || d.Namespaces[0].Separator != "/" {
			t.Errorf("destination: %d folders, %d messages, namespaces %+v; want INBOX only, separator /", d.FolderCount, d.Messages, d.Namespaces)
		}
	})

	t.Run("Mapping", func(t *testing.T) {
		want := map[string]string{
			"INBOX": "INBOX", "Archive": "Archive", "Archive/2019": "Archive/2019", "Travel": "Travel",
			"Notes": "Notes (imported)", "Files": "Files (imported)",
		}
		if len(rep.Mapping) != len(want) {
			t.Errorf("mapping has %d rows; want %d: %+v", len(rep.Mapping), len(want), rep.Mapping)
		}
		for _, m := range rep.Mapping {
			if want[m.Display] != m.Destination || m.Skip != "" {
				t.Errorf("mapping %q -> %q (skip %q); want %q", m.Display, m.Destination, m.Skip, want[m.Display])
			}
			if m.Source != courierName(m.Display) {
				t.Errorf("mapping source %q for %q; want %q", m.Source, m.Display, courierName(m.Display))
			}
		}
	})

	t.Run("ReadRate", func(t *testing.T) {
		r := rep.Source.ReadRate
		if r == nil || r.Messages < 1 || r.Seconds <= 0 || r.BytesPerSecond <= 0 {
			t.Fatalf("read rate %+v; want a sample", r)
		}
		// The sample is the newest messages of the largest folder: their
		// exact sizes add up to the bytes read.
		largest, size := "", int64(0)
		for display, fs := range pb.corpusFolders() {
			if fs.Bytes > size {
				largest, size = display, fs.Bytes
			}
		}
		if r.Folder != courierName(largest) {
			t.Errorf("sampled %q; want the largest folder %q", r.Folder, courierName(largest))
		}
		var inFolder []testserver.Message
		for _, m := range pb.corpus {
			if m.Folder == largest {
				inFolder = append(inFolder, m)
			}
		}
		var want int64
		for _, m := range inFolder[max(0, len(inFolder)-r.Messages):] {
			want += int64(len(m.Raw))
		}
		if r.Bytes != want || r.Messages > len(inFolder) {
			t.Errorf("sampled %d messages, %d bytes; the newest %d of %q hold %d", r.Messages, r.Bytes, r.Messages, largest, want)
		}
	})

	t.Run("ConnectionLimit", func(t *testing.T) {
		if l := rep.Destination.ConnectionLimit; l == nil || l.Accepted != 3 || !l.Refused || !l.Limit || !strings.Contains(l.Answer, "[LIMIT]") || l.Bound != 5 {
			t.Errorf("destination connection limit %+v; want 3 accepted, the 4th refused with [LIMIT]", l)
		}
		if l := rep.Source.ConnectionLimit; l == nil || l.Accepted != 5 || l.Refused {
			t.Errorf("source connection limit %+v; want all 5 accepted", l)
		}
	})

	t.Run("Estimate", func(t *testing.T) {
		e := rep.Estimate
		if e.Folders != 6 || e.Messages != len(pb.corpus) || e.Bytes != rep.Source.Bytes || e.Connections != 4 || e.DailyPasses != 1 {
			t.Errorf("estimate %+v; want every source folder, %d messages, %d bytes, 4 connections, 1 pass", e, len(pb.corpus), rep.Source.Bytes)
		}
		if want := float64(e.Bytes) / (rep.Source.ReadRate.BytesPerSecond * 4); e.Seconds != want {
			t.Errorf("estimate %v s; want bytes over 4 times the measured rate, %v", e.Seconds, want)
		}
		if len(e.Warnings) != 1 || !strings.Contains(e.Warnings[0], "the destination accepts 3 connections at once and the copy would open 4: use --connections 2") {
			t.Errorf("warnings %q; want the destination's connection limit", e.Warnings)
		}
	})

	t.Run("ExactSizesTable", func(t *testing.T) {
		code, out, errOut := pb.run("probe", "--exact-sizes", "--sample-time", "0")
		if code != ExitOK {
			t.Fatalf("probe exit %d; stderr %s", code, errOut)
		}
		for _, want := range []string{
			fmt.Sprintf("Source %s as %s (profile dovecot)", pb.src.Addr, probeUser),
			fmt.Sprintf("6 folders, %d messages, %s (FETCH RFC822.SIZE)", len(pb.corpus), size.Format(rep.Source.Bytes)),
			`Namespace personal: prefix "INBOX.", separator "."`,
			"Quota \"User quota\": STORAGE 0 B used of 48.8 MiB",
			"Files (imported)",
			fmt.Sprintf("Estimate: 6 folders, %d messages, %s to copy", len(pb.corpus), size.Format(rep.Source.Bytes)),
		} {
			if !strings.Contains(out, want) {
				t.Errorf("probe output lacks %q:\n%s", want, out)
			}
		}
		for display, fs := range pb.corpusFolders() {
			if !strings.Contains(out, fmt.Sprintf("%s  ", courierName(display))) || !strings.Contains(out, fmt.Sprintf("%d", fs.Bytes)) {
				t.Errorf("probe output lacks folder %q with %d bytes", courierName(display), fs.Bytes)
			}
		}
		if strings.Contains(out, "Read rate") || strings.Contains(out, "Connection limit") {
			t.Errorf("probe without a sample or --find-connection-limit printed one:\n%s", out)
		}
	})

	t.Run("ExactSizesMatchStatus", func(t *testing.T) {
		code, out, errOut := pb.run("probe", "--json", "--exact-sizes", "--sample-time", "0")
		if code != ExitOK {
			t.Fatalf("probe exit %d; stderr %s", code, errOut)
		}
		var exact probe.Report
		if err := json.Unmarshal([]byte(out), &exact); err != nil {
			t.Fatal(err)
		}
		if exact.Source.SizeMethod != "FETCH RFC822.SIZE" || fmt.Sprint(exact.Source.Folders) != fmt.Sprint(rep.Source.Folders) {
			t.Errorf("RFC822.SIZE figures %+v differ from STATUS SIZE %+v", exact.Source.Folders, rep.Source.Folders)
		}
		if exact.Source.ReadRate != nil || exact.Estimate.Seconds != 0 {
			t.Errorf("--sample-time 0 still sampled: %+v, %+v", exact.Source.ReadRate, exact.Estimate)
		}
	})

	t.Run("ReadOnly", func(t *testing.T) {
		after, err := testserver.Take(ctx, pb.src.Addr, probeUser, probeSrcPW)
		if err != nil {
			t.Fatal(err)
		}
		if diff := srcBefore.Diff(after); len(diff) > 0 {
			t.Errorf("probe changed the source:\n%s", strings.Join(diff, "\n"))
		}
		dst, err := testserver.Take(ctx, pb.dst.Addr, probeUser, probeDstPW)
		if err != nil {
			t.Fatal(err)
		}
		if len(dst.Folders) != 1 || dst.Folders["INBOX"] == nil || len(dst.Folders["INBOX"].Messages) != 0 {
			t.Errorf("probe changed the destination: %d folders", len(dst.Folders))
		}
	})

	// The mapping probe shows is the one sync then makes, with the same
	// flags: every message lands in the folder probe named, byte for byte.
	t.Run("SyncFollowsTheMapping", func(t *testing.T) {
		code, _, errOut := pb.run("sync", "--state", filepath.Join(pb.dir, "state.db"), "--connections", "2")
		if code != ExitOK {
			t.Fatalf("sync exit %d; stderr %s", code, errOut)
		}
		dst, err := testserver.Take(ctx, pb.dst.Addr, probeUser, probeDstPW)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range rep.Mapping {
			srcF, dstF := srcBefore.Folders[m.Source], dst.Folders[m.Destination]
			if dstF == nil {
				t.Errorf("sync made no folder %q for %q", m.Destination, m.Display)
				continue
			}
			if len(srcF.Messages) != len(dstF.Messages) {
				t.Errorf("%q: %d messages at the source, %d in %q", m.Display, len(srcF.Messages), len(dstF.Messages), m.Destination)
				continue
			}
			for i := range srcF.Messages {
				if s, d := srcF.Messages[i], dstF.Messages[i]; s.SHA256 != d.SHA256 || !s.Date.Equal(d.Date) || strings.Join(s.Flags, " ") != strings.Join(d.Flags, " ") {
					t.Errorf("%q message %d: source %+v, destination %+v", m.Display, i, s, d)
				}
			}
		}
		if dst.Folders["Files"] != nil || dst.Folders["Notes"] != nil {
			t.Errorf("sync wrote into the names Office 365 keeps for itself")
		}
		// Again: the message in two folders stays once in each.
		if code, _, errOut := pb.run("sync", "--state", filepath.Join(pb.dir, "state.db")); code != ExitOK {
			t.Fatalf("second sync exit %d; stderr %s", code, errOut)
		}
		again, err := testserver.Take(ctx, pb.dst.Addr, probeUser, probeDstPW)
		if err != nil {
			t.Fatal(err)
		}
		if diff := dst.Diff(again); len(diff) > 0 {
			t.Errorf("a second sync changed the destination:\n%s", strings.Join(diff, "\n"))
		}
	})
}

func TestProbeUsage(t *testing.T) {
	t.Setenv("IMAPMIGRATE_SOURCE_PASSWORD", "pw")
	t.Setenv("IMAPMIGRATE_DEST_PASSWORD", "")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"probe"}, "nothing to probe"},
		{[]string{"probe", "--dest-profile", "office365"}, "nothing to probe"},
		{[]string{"probe", "--source", "127.0.0.1:1", "--source-user", "a", "--source-password-file", "/nonexistent"}, "--source-password-file"},
		{[]string{"probe", "--dest", "127.0.0.1:1"}, "--dest-user is required"},
		{[]string{"probe", "--source", "127.0.0.1:1", "--source-user", "a", "--sample-time", "-1s"}, "must be 0 or more"},
		{[]string{"probe", "--source-profile", "nosuch", "--source-user", "a"}, `no provider profile "nosuch"`},
	}
	for _, tt := range tests {
		var out, errOut bytes.Buffer
		if code := Main(context.Background(), tt.args, &out, &errOut); code != ExitUsage || !strings.Contains(errOut.String(), tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tt.args, code, errOut.String(), tt.want)
		}
	}
}
