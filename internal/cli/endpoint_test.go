package cli

import (
	"context"
	"strings"
	"testing"
)

// TestEndpointAddCertPin checks that --cert-sha256 reaches the service as
// given and that the list shows the endpoint as pinned.
func TestEndpointAddCertPin(t *testing.T) {
	rb := setupRemote(t)
	pin := strings.Repeat("AB:", 31) + "AB"
	rb.mustRun(t, "endpoint", "add", "selfsigned", "--host", "mail.example.org", "--cert-sha256", pin)

	ep, err := rb.fake.Endpoint(context.Background(), "selfsigned")
	if err != nil {
		t.Fatalf("Endpoint(%q) = %v", "selfsigned", err)
	}
	if ep.CertSHA256 != pin || ep.InsecureSkipVerify {
		t.Errorf("stored endpoint has CertSHA256 %q, InsecureSkipVerify %v; want %q, false", ep.CertSHA256, ep.InsecureSkipVerify, pin)
	}
	out := rb.mustRun(t, "endpoint", "list")
	wantLines(t, "endpoint list", out, "tls (pinned)")
}
