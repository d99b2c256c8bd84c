package service

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/imapmigrate/imapmigrate/internal/imapconn"
	"github.com/imapmigrate/imapmigrate/internal/mailsync"
	"github.com/imapmigrate/imapmigrate/internal/throttle"
)

// TestThrottledReadsWords: throttling said in words, with no response
// code, is throttling; an error with no *imap.Error is not.
func TestThrottledReadsWords(t *testing.T) {
	t.Parallel()
	office365 := &imap.Error{Type: imap.StatusResponseTypeBad, Text: "Request is throttled. Suggested Backoff Time: 34567 milliseconds"}
	login := &imapconn.Error{Side: "source", Addr: "outlook.office365.com:993", User: "alice", Kind: imapconn.KindAuth, Err: office365}
	err := fmt.Errorf("validation: %w", login)

	if !throttled(err) {
		t.Errorf("throttled(%v) = false; want true", err)
	}
	if authFailed(err) {
		t.Errorf("authFailed(%v) = true; want false: throttling is not a bad password", err)
	}
	if got, want := throttleHint(err), (throttle.Hint{Throttled: true, Wait: 34567 * time.Millisecond}); got != want {
		t.Errorf("throttleHint(%v) = %+v; want %+v", err, got, want)
	}
	webLogin := &imapconn.Error{Kind: imapconn.KindAuth, Err: &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeAlert,
		Text: "Web login required: https://support.google.com/mail/answer/78754 (Failure)"}}
	if throttled(webLogin) || !authFailed(webLogin) {
		t.Errorf("throttled(%v) = %v, authFailed = %v; want false, true", webLogin, throttled(webLogin), authFailed(webLogin))
	}
	// The engine's over-quota error keeps the server's answer: Gmail's
	// bandwidth limit, said with [OVERQUOTA], is a wait, a full mailbox
	// is not.
	for _, tc := range []struct {
		text string
		want bool
	}{
		{"Account exceeded command or bandwidth limits. (Failure)", true},
		{"Quota exceeded (mailbox for user is full)", false},
	} {
		quota := fmt.Errorf("%w: append uid 7 of folder %q: %w", mailsync.ErrOverQuota, "INBOX",
			&imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeOverQuota, Text: tc.text})
		if got := throttled(quota); got != tc.want {
			t.Errorf("throttled(%v) = %v; want %v", quota, got, tc.want)
		}
	}
	if plain := errors.New("request is throttled"); throttled(plain) {
		t.Errorf("throttled(%v) = true; want false without an *imap.Error", plain)
	}
}

func TestThrottleWait(t *testing.T) {
	t.Parallel()
	const base = 30 * time.Second
	tests := []struct {
		name     string
		failures int
		hint     throttle.Hint
		min, max time.Duration
	}{
		{"NoSuggestion", 0, throttle.Hint{Throttled: true}, base, base * 6 / 5},
		{"NoSuggestionCapped", 9, throttle.Hint{Throttled: true}, 15 * time.Minute, 18 * time.Minute},
		{"SuggestionLonger", 0, throttle.Hint{Throttled: true, Wait: 299961 * time.Millisecond}, 299961 * time.Millisecond, 299961 * time.Millisecond * 6 / 5},
		{"SuggestionShorter", 3, throttle.Hint{Throttled: true, Wait: 5 * time.Second}, base << 3, (base << 3) * 6 / 5},
		{"SuggestionHour", 9, throttle.Hint{Throttled: true, Wait: time.Hour}, time.Hour, 72 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for range 200 { // the jitter is random
				got := throttleWait(base, tt.failures, tt.hint)
				if got < tt.min || got > tt.max {
					t.Fatalf("throttleWait(%v, %d, %+v) = %v; want within [%v, %v]", base, tt.failures, tt.hint, got, tt.min, tt.max)
				}
			}
		})
	}
}
