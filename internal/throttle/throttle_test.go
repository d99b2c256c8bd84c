package throttle_test

import (
	"testing"
	"time"

	"github.com/imapmigrate/imapmigrate/internal/throttle"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name       string
		code, text string
		want       throttle.Hint
	}{
		// RFC 5530 codes.
		{"Limit", "LIMIT", "Maximum number of connections from user+IP exceeded (mail_max_userip_connections=2)", throttle.Hint{Throttled: true}},
		{"Unavailable", "UNAVAILABLE", "Temporary authentication failure.", throttle.Hint{Throttled: true}},
		{"InUse", "INUSE", "Mailbox is locked", throttle.Hint{Throttled: true}},
		{"LowerCaseCode", "limit", "", throttle.Hint{Throttled: true}},
		{"CodeInText", "", "[UNAVAILABLE] Internal error occurred. Refer to server log for more information.", throttle.Hint{Throttled: true}},

		// Office 365.
		{"Office365", "", "Request is throttled. Suggested Backoff Time: 34567 milliseconds", throttle.Hint{Throttled: true, Wait: 34567 * time.Millisecond}},
		{"Office365Reliability", "", "Request is throttled. Suggested Backoff Time: 299961 milliseconds", throttle.Hint{Throttled: true, Wait: 299961 * time.Millisecond}},
		{"Office365Glued", "", "BADRequest is throttled. Suggested Backoff Time: 201317 milliseconds", throttle.Hint{Throttled: true, Wait: 201317 * time.Millisecond}},
		{"Office365Shouting", "", "REQUEST IS THROTTLED.SUGGESTED BACKOFF TIME:34567 MILLISECONDS.", throttle.Hint{Throttled: true, Wait: 34567 * time.Millisecond}},
		{"Office365NoUnit", "", "Request is throttled. Suggested Backoff Time: 1500", throttle.Hint{Throttled: true, Wait: 1500 * time.Millisecond}},
		{"Office365Seconds", "", "Request is throttled. Suggested Backoff Time: 90 seconds", throttle.Hint{Throttled: true, Wait: 90 * time.Second}},
		{"Office365Zero", "", "Request is throttled. Suggested Backoff Time: 0 milliseconds", throttle.Hint{Throttled: true}},
		{"Office365OverAnHour", "", "Request is throttled. Suggested Backoff Time: 7200000 milliseconds", throttle.Hint{Throttled: true, Wait: time.Hour}},
		{"Office365Huge", "", "Request is throttled. Suggested Backoff Time: 99999999999999999999999 milliseconds", throttle.Hint{Throttled: true, Wait: time.Hour}},
		{"Office365Negative", "", "Request is throttled. Suggested Backoff Time: -5000 milliseconds", throttle.Hint{Throttled: true}},
		{"Office365Decimal", "", "Request is throttled. Suggested Backoff Time: 34.567 seconds", throttle.Hint{Throttled: true}},
		{"Office365Garbage", "", "Request is throttled. Suggested Backoff Time: soon", throttle.Hint{Throttled: true}},
		{"Office365Hex", "", "Request is throttled. Suggested Backoff Time: 0x10 milliseconds", throttle.Hint{Throttled: true}},

		// Exchange: the 15 is an error code, not seconds.
		{"Exchange", "", "Server Unavailable. 15", throttle.Hint{Throttled: true}},
		{"ExchangeNoSpace", "", "server unavailable.15", throttle.Hint{Throttled: true}},

		// Gmail. go-imap puts [ALERT] in Code.
		{"GmailConnections", "ALERT", "Too many simultaneous connections. (Failure)", throttle.Hint{Throttled: true}},
		{"GmailConnectionsRaw", "", "[ALERT] Too many simultaneous connections. (Failure)", throttle.Hint{Throttled: true}},
		{"GmailBandwidth", "OVERQUOTA", "Account exceeded command or bandwidth limits. (Failure)", throttle.Hint{Throttled: true}},
		{"GmailThrottledCode", "THROTTLED", "", throttle.Hint{Throttled: true}},
		{"GmailThrottledInText", "", "Success [THROTTLED]", throttle.Hint{Throttled: true}},
		{"GmailWebLogin", "ALERT", "Web login required: https://support.google.com/mail/answer/78754 (Failure)", throttle.Hint{}},
		{"GmailWebLoginRaw", "", "[ALERT] Web login required: https://support.google.com/mail/answer/78754 (Failure)", throttle.Hint{}},

		// Yahoo and others.
		{"TryAgainLater", "", "[SERVERBUG] Please try again later", throttle.Hint{Throttled: true}},
		{"TemporarilyUnavailable", "", "Service temporarily unavailable", throttle.Hint{Throttled: true}},
		{"ServerBusy", "", "Server busy, try later.", throttle.Hint{Throttled: true}},
		{"ServerIsBusy", "", "The server is busy!", throttle.Hint{Throttled: true}},

		// Not throttling.
		{"Empty", "", "", throttle.Hint{}},
		{"AuthFailed", "", "Authentication failed.", throttle.Hint{}},
		{"AuthFailedCode", "AUTHENTICATIONFAILED", "Authentication failed.", throttle.Hint{}},
		{"AuthFailedCodeInText", "", "[AUTHENTICATIONFAILED] Invalid credentials (Failure)", throttle.Hint{}},
		{"AuthFailedTryLater", "AUTHENTICATIONFAILED", "Authentication failed, try again later", throttle.Hint{}},
		{"OverQuota", "OVERQUOTA", "Quota exceeded (mailbox for user is full)", throttle.Hint{}},
		{"OverQuotaInText", "", "[OVERQUOTA] Quota exceeded", throttle.Hint{}},
		{"NoSuchMailbox", "NONEXISTENT", "Mailbox doesn't exist: Foo", throttle.Hint{}},
		{"WordInsideAnother", "", "unthrottledness is not a word", throttle.Hint{}},
		{"NumberWithoutThrottling", "", "Suggested reading time: 5 minutes", throttle.Hint{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := throttle.Parse(tt.code, tt.text); got != tt.want {
				t.Errorf("Parse(%q, %q) = %+v; want %+v", tt.code, tt.text, got, tt.want)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range [][2]string{
		{"", ""},
		{"LIMIT", ""},
		{"", "Request is throttled. Suggested Backoff Time: 34567 milliseconds"},
		{"", "Request is throttled. Suggested Backoff Time: 99999999999999999999999 milliseconds"},
		{"", "Request is throttled. Suggested Backoff Time: 59 minutes"},
		{"", "Server Unavailable. 15"},
		{"ALERT", "Too many simultaneous connections. (Failure)"},
		{"", "[ALERT] Web login required: https://support.google.com/mail/answer/78754 (Failure)"},
		{"", "Success [THROTTLED"},
		{"[", "[[]]"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, code, text string) {
		h := throttle.Parse(code, text)
		if h.Wait < 0 || h.Wait > time.Hour {
			t.Errorf("Parse(%q, %q).Wait = %v; want within [0, 1h]", code, text, h.Wait)
		}
		if h.Wait > 0 && !h.Throttled {
			t.Errorf("Parse(%q, %q) = %+v; a Wait without Throttled", code, text, h)
		}
	})
}
