package web

import (
	"testing"

	"github.com/imapmigrate/imapmigrate/internal/service"
)

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
		{"OneFailedOfFew", service.UserSynced, 10, 1, nil, GradeGood, "1 item failed"},
		{"OnePerMille", service.UserSynced, 10000, 10, nil, GradeGood, "10 items failed"},
		{"JustOverOnePerMille", service.UserSynced, 10000, 11, nil, GradeInvestigate, "11 items failed"},
		{"RejectedCounts", service.UserSynced, 1000, 0, map[string]int64{"rejected": 2}, GradeInvestigate, "2 rejected by the destination"},
		{"Both", service.UserSynced, 100, 3, map[string]int64{"rejected": 1, "too_large": 9}, GradeInvestigate, "3 items failed, 1 rejected by the destination"},
		{"FivePercent", service.UserSynced, 100, 5, nil, GradeInvestigate, "5 items failed"},
		{"OverFivePercent", service.UserSynced, 100, 6, nil, GradePoor, "6 items failed"},
		{"NothingCopied", service.UserSynced, 0, 2, nil, GradePoor, "2 items failed"},
		{"FailedUser", service.UserFailed, 1000, 0, nil, GradePoor, "the migration failed"},
		{"FailedUserWithItems", service.UserFailed, 1000, 1, nil, GradePoor, "the migration failed; 1 item failed"},
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
