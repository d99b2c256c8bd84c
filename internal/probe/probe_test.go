package probe

import (
	"strings"
	"testing"

	"github.com/imapmigrate/imapmigrate/internal/provider"
)

func TestEstimateCopy(t *testing.T) {
	gmail, _ := provider.Lookup("gmail")
	generic, _ := provider.Lookup("generic")
	src := &Side{
		Folders: []Folder{
			{Name: "INBOX", Messages: 10, Bytes: 6e9},
			{Name: "[Gmail]/All Mail", Messages: 30, Bytes: 9e9, Skip: "virtual"},
			{Name: "Broken", Messages: 2, Bytes: 100, Error: "NO it broke"},
			{Name: "Work", Messages: 5, Bytes: 1e9},
		},
		ReadRate: &ReadRate{BytesPerSecond: 1e6},
	}
	dstQuota := func(limitKiB, usedKiB int64) *Side {
		return &Side{Quota: []Quota{{Root: "User quota", Resource: "STORAGE", Usage: usedKiB, Limit: limitKiB}}}
	}
	tests := []struct {
		name         string
		dst          *Side
		srcP, dstP   provider.Profile
		conns        int
		wantSeconds  float64
		wantPasses   int
		wantWarnings []string
	}{
		{name: "NoBudget", srcP: generic, dstP: generic, conns: 4, wantSeconds: 7e9 / 4e6, wantPasses: 1},
		{name: "GmailSource", srcP: gmail, dstP: generic, conns: 2, wantSeconds: 7e9 / 2e6, wantPasses: 3,
			wantWarnings: []string{"needs 3 days", "gmail reads 2.3 GiB a day"}},
		{name: "GmailDestination", srcP: generic, dstP: gmail, conns: 1, wantSeconds: 7e9 / 1e6, wantPasses: 14,
			wantWarnings: []string{"needs 14 days", "gmail takes 476.8 MiB a day"}},
		{name: "QuotaTooSmall", dst: dstQuota(5e6, 1e6), srcP: generic, dstP: generic, conns: 4, wantSeconds: 7e9 / 4e6, wantPasses: 1,
			wantWarnings: []string{`quota "User quota" leaves 3.8 GiB free, but the folders to copy hold 6.5 GiB`}},
		{name: "QuotaLargeEnough", dst: dstQuota(1e8, 0), srcP: generic, dstP: generic, conns: 4, wantSeconds: 7e9 / 4e6, wantPasses: 1},
	}
	for _, tt := range tests {
		e := EstimateCopy(src, tt.dst, tt.conns, tt.srcP, tt.dstP)
		if e.Folders != 2 || e.Messages != 15 || e.Bytes != 7e9 || e.Seconds != tt.wantSeconds || e.DailyPasses != tt.wantPasses {
			t.Errorf("%s: estimate %+v; want 2 folders, 15 messages, 7e9 bytes, %v s, %d passes", tt.name, e, tt.wantSeconds, tt.wantPasses)
		}
		all := strings.Join(e.Warnings, "\n")
		if len(e.Warnings) != min(len(tt.wantWarnings), 1) {
			t.Errorf("%s: warnings %q; want %d", tt.name, e.Warnings, min(len(tt.wantWarnings), 1))
		}
		for _, w := range tt.wantWarnings {
			if !strings.Contains(all, w) {
				t.Errorf("%s: warnings %q; want %q", tt.name, all, w)
			}
		}
	}
}
