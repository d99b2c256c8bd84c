package mailsync_test

import (
	"testing"
	"time"

	"github.com/imapmigrate/imapmigrate/internal/testserver"
)

// BenchmarkSyncOverLatency copies a mailbox between two Dovecot servers
// through a link with a 10 ms round trip, where what counts is how many
// round trips a message costs. It reports msgs/s and MB/s; run it with
//
//	IMAPMIGRATE_INTEGRATION=1 go test -run '^$' -bench SyncOverLatency ./internal/mailsync/
func BenchmarkSyncOverLatency(b *testing.B) {
	msgs := testserver.Corpus(testserver.CorpusOptions{Seed: 11, Messages: 600, Folders: []string{"INBOX", "Sent", "Archive"}, MinSize: 2 << 10, MaxSize: 40 << 10})
	var bytes int64
	for _, m := range msgs {
		bytes += int64(len(m.Raw))
	}
	for _, conns := range []int{1, 4} {
		b.Run(map[int]string{1: "1conn", 4: "4conns"}[conns], func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				bundle := setup(b, setupOpts{messages: msgs})
				bundle.opts.Source.Addr = testserver.StartDelayProxy(b, bundle.src.Addr, 5*time.Millisecond)
				bundle.opts.Dest.Addr = testserver.StartDelayProxy(b, bundle.dst.Addr, 5*time.Millisecond)
				bundle.opts.Connections = conns
				b.StartTimer()
				start := time.Now()
				rep := bundle.sync(b)
				d := time.Since(start).Seconds()
				if rep.Totals.Copied != len(msgs) {
					b.Fatalf("copied %d of %d", rep.Totals.Copied, len(msgs))
				}
				b.ReportMetric(float64(len(msgs))/d, "msgs/s")
				b.ReportMetric(float64(bytes)/1e6/d, "MB/s")
			}
		})
	}
}
