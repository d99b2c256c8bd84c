package mailsync_test

import (
	"strings"
	"testing"

	"github.com/imapmigrate/imapmigrate/internal/testserver"
)

// TestSyncDestinationRefusesFolderName: the destination refuses to create
// one folder (RELIABILITY row 26; Dovecot refuses a name longer than its
// file system allows, as Exchange refuses some names). That folder is
// reported with the server's words and its messages as not copied; the
// other folders are copied in full, and a second run does the same without
// duplicating anything.
func TestSyncDestinationRefusesFolderName(t *testing.T) {
	long := "Projects " + strings.Repeat("x", 300)
	msgs := append(memCorpus(),
		testserver.Message{Folder: long, Raw: msg("long1", "Long 1", "kept at the source"), Date: day(3)},
		testserver.Message{Folder: long, Raw: msg("long2", "Long 2", "kept at the source"), Date: day(4)},
	)
	_, dst, opts := memBundle(t, msgs)

	for run := 1; run <= 2; run++ {
		rep := memSync(t, opts)
		if rep.OK() {
			t.Errorf("run %d: report OK; want not OK, a folder could not be created", run)
		}
		var refused bool
		for _, f := range rep.Folders {
			if f.Source != long {
				continue
			}
			refused = true
			if !strings.Contains(f.Error, "create destination folder") || !strings.Contains(f.Error, "NO [CANNOT] Mailbox name too long") {
				t.Errorf("run %d: folder %.20q... error %q; want the refused CREATE with the server's words", run, f.Source, f.Error)
			}
		}
		if !refused {
			t.Errorf("run %d: the refused folder is not in the report", run)
		}
		if rep.Totals.Copied+rep.Totals.Present != 7 {
			t.Errorf("run %d: copied %d + present %d; want the 7 messages of the other folders", run, rep.Totals.Copied, rep.Totals.Present)
		}
		checkDest(t, dst, map[string]int{"INBOX": 5, "Archive": 2})
	}
}
