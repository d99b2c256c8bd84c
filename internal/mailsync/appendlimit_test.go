package mailsync_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/imapmigrate/imapmigrate/internal/mailsync"
	"github.com/imapmigrate/imapmigrate/internal/testserver"
)

// TestSyncAppendLimit: a destination that advertises APPENDLIMIT (RFC 7889;
// Dovecot configured by an admin with imap_capability +APPENDLIMIT=N and
// quota_max_mail_size N) gets no APPEND for a message above the limit:
// each is a skipped item whose reason and detail name the limit, the
// report counts them and is not OK (the admin did not choose this limit),
// and every other message, one exactly at the limit included, is copied.
func TestSyncAppendLimit(t *testing.T) {
	t.Parallel()
	const limit = 50000
	sized := func(n int, subject string) []byte {
		head := msg(subject, subject, "")
		body := strings.Repeat("z", n-len(head))
		return []byte(strings.TrimSuffix(string(head), "\r\n") + body + "\r\n")
	}
	msgs := testserver.Corpus(testserver.CorpusOptions{Seed: 31, Messages: 8, Folders: []string{"INBOX", "Archive"}, MinSize: 1000, MaxSize: 5000})
	msgs = append(msgs,
		testserver.Message{Folder: "INBOX", Raw: sized(limit, "At the limit"), Date: day(50)},
		testserver.Message{Folder: "INBOX", Raw: sized(limit+1, "One byte over"), Date: day(51)},
		testserver.Message{Folder: "Archive", Raw: sized(200000, "Far over"), Date: day(52)},
	)
	for _, m := range msgs[len(msgs)-3:] {
		if !strings.HasSuffix(string(m.Raw), "\r\n") {
			t.Fatalf("fixture %d bytes does not end in CRLF", len(m.Raw))
		}
	}
	b := setup(t, setupOpts{messages: msgs, dstCfg: testserver.DovecotConfig{AppendLimit: limit, MaxMailSize: fmt.Sprint(limit)}})
	var trace logSink
	b.opts.Dest.Trace = &trace
	before := b.snap(t, b.src, srcPW)

	rep := b.sync(t)
	if rep.OK() {
		t.Errorf("report OK with messages over the destination's limit; want not OK")
	}
	over := map[string]bool{"One byte over": true, "Far over": true}
	if got := rep.Totals.Skipped[mailsync.ReasonOverAppendLimit]; got != len(over) || rep.Totals.Skipped[mailsync.ReasonRejected] != 0 {
		t.Errorf("skipped %v; want %d over_append_limit and none rejected", rep.Totals.Skipped, len(over))
	}
	if rep.Totals.Copied != len(msgs)-len(over) || rep.Totals.Failed != 0 {
		t.Errorf("copied %d, failed %d; want %d, 0", rep.Totals.Copied, rep.Totals.Failed, len(msgs)-len(over))
	}
	skipSHA := map[string]bool{}
	for _, it := range rep.Skipped {
		want := fmt.Sprintf("%d bytes is over the destination's APPENDLIMIT of %d bytes", it.Size, limit)
		if it.Reason != mailsync.ReasonOverAppendLimit || !over[it.Subject] || it.UID == 0 || it.Size <= limit || !strings.Contains(it.Detail, want) {
			t.Errorf("skipped item %+v; want reason %s, the subject, uid, size and %q", it, mailsync.ReasonOverAppendLimit, want)
		}
		delete(over, it.Subject)
		for _, m := range before.Folders[it.Folder].Messages {
			if uint32(m.UID) == it.UID {
				skipSHA[m.SHA256] = true
			}
		}
	}
	if len(over) > 0 {
		t.Errorf("not reported: %v", keys(over))
	}
	// No APPEND of an oversized literal ever left: not one refused by the
	// server, none sent at all.
	for _, size := range []int{limit + 1, 200000} {
		if strings.Contains(trace.String(), fmt.Sprintf("{%d", size)) {
			t.Errorf("an APPEND of %d bytes was sent to the destination", size)
		}
	}
	checkMirrors(t, before, b.snap(t, b.dst, dstPW), faultMapping, skipSHA)
}
