package web

import (
	"testing"
	"time"

	"github.com/imapmigrate/imapmigrate/internal/mailsync"
	"github.com/imapmigrate/imapmigrate/internal/service"
)

// TestGrade: the grade from the sync statistics. Since the grade has one
// definition (mailsync.GradeOf), shared with verifications, the reasons
// give the grade's own figures first ("4 of 104 messages missing at the
// destination"), the base being the messages that should be there (synced
// plus missing) rather than the synced ones alone; the grades of the
// cases are as before.
func TestGrade(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		status    string
		synced    int64
		failed    int64
		skippedBy map[string]int64
		grade     string
		reason    string
	}{
		{"Perfect", service.UserSynced, 1000, 0, nil, GradePerfect, "every item is at the destination"},
		{"PerfectCompleted", service.UserCompleted, 1000, 0, nil, GradePerfect, "every item is at the destination"},
		{"PolicySkipsAreChosen", service.UserSynced, 1000, 0,
			map[string]int64{"too_large": 5, "over_max_items": 300, "received_before": 40, "expunged": 2}, GradePerfect, "every item is at the destination"},
		{"NotSyncedYet", service.UserSyncing, 10, 0, nil, GradeGood, "nothing missing so far; the user is Syncing"},
		{"OneFailedOfFew", service.UserSynced, 10, 1, nil, GradeGood, "1 of 11 messages missing at the destination: 1 item failed"},
		{"OnePerMille", service.UserSynced, 10000, 10, nil, GradeGood, "10 of 10010 messages missing at the destination: 10 items failed"},
		{"JustOverOnePerMille", service.UserSynced, 10000, 11, nil, GradeInvestigate, "11 of 10011 messages missing at the destination: 11 items failed"},
		{"RejectedCounts", service.UserSynced, 1000, 0, map[string]int64{"rejected": 2}, GradeInvestigate, "2 of 1002 messages missing at the destination: 2 rejected by the destination"},
		{"Both", service.UserSynced, 100, 3, map[string]int64{"rejected": 1, "too_large": 9}, GradeInvestigate, "4 of 104 messages missing at the destination: 3 items failed, 1 rejected by the destination"},
		{"FivePercent", service.UserSynced, 100, 5, nil, GradeInvestigate, "5 of 105 messages missing at the destination: 5 items failed"},
		{"OverFivePercent", service.UserSynced, 100, 6, nil, GradePoor, "6 of 106 messages missing at the destination: 6 items failed"},
		{"NothingCopied", service.UserSynced, 0, 2, nil, GradePoor, "2 of 2 messages missing at the destination: 2 items failed"},
		{"FailedUser", service.UserFailed, 1000, 0, nil, GradePoor, "the migration failed"},
		{"FailedUserWithItems", service.UserFailed, 1000, 1, nil, GradePoor, "the migration failed; 1 of 1001 messages missing at the destination: 1 item failed"},
		{"OverAppendLimitCounts", service.UserSynced, 1000, 0, map[string]int64{"over_append_limit": 1}, GradeGood,
			"1 of 1001 messages missing at the destination: 1 over the destination's APPENDLIMIT"},
		{"BlockedUser", service.UserBlocked, 1000, 0, nil, GradePoor, "blocked: the destination mailbox is full"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			u := service.User{Status: tc.status, ItemsSynced: tc.synced, ItemsFailed: tc.failed, SkippedBy: tc.skippedBy}
			grade, reason := grade(u)
			if grade != tc.grade || reason != tc.reason {
				t.Errorf("grade(%s, %d synced, %d failed, skipped %v) = %s, %q; want %s, %q",
					tc.status, tc.synced, tc.failed, tc.skippedBy, grade, reason, tc.grade, tc.reason)
			}
		})
	}
}

// TestGradeFromVerification: once a verification has run, the console
// shows its grade and says so; before, the statistics', saying so.
func TestGradeFromVerification(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	u := service.User{Status: service.UserSynced, ItemsSynced: 1000}
	if g, why := grade(u); g != GradePerfect || gradeSource(service.GradeUser(u)) != "from sync statistics" {
		t.Errorf("grade without a verification = %s (%s), %s; want Perfect from sync statistics", g, why, gradeSource(service.GradeUser(u)))
	}
	u.Verification = &service.Verification{State: service.VerifyDone, VerifiedAt: &at, Grade: mailsync.GradeInvestigate,
		GradeReason: "2 of 1000 messages missing at the destination"}
	g, why := grade(u)
	if src := gradeSource(service.GradeUser(u)); g != GradeInvestigate || why != "2 of 1000 messages missing at the destination" ||
		src != "from verification at "+formatTime(&at) {
		t.Errorf("grade with a verification = %s (%s), %s; want Investigate, its reason, from verification at %s", g, why, src, formatTime(&at))
	}
}
