package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imapmigrate/imapmigrate/internal/service"
	"github.com/imapmigrate/imapmigrate/internal/testserver"
)

// TestServeTraceLevel: `serve` with log_level trace logs the IMAP
// transcript of its passes and endpoint tests, as JSON records at level
// TRACE, with the logins redacted; no password of the CSV file or of a
// test, plain or as SASL PLAIN sends it, is in serve's output.
func TestServeTraceLevel(t *testing.T) {
	m := startMailUsers(t, 2, func(i int) []testserver.Message {
		return testserver.Corpus(testserver.CorpusOptions{Seed: int64(i), Messages: 10, Folders: []string{"INBOX"}})
	})
	s := newSite(t, "", "IMAPMIGRATE_LOG_LEVEL=trace", "IMAPMIGRATE_LOG_FORMAT=json")
	serve := s.serve()
	host, port := hostPort(t, m.src.Addr)
	s.must("endpoint", "add", "src", "--host", host, "--port", port, "--security", "none")
	host, port = hostPort(t, m.dst.Addr)
	s.must("endpoint", "add", "dst", "--host", host, "--port", port, "--security", "none")
	wrong := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(wrong, []byte("src pw wrong\n"), 0o600)
	if code, _, _ := s.cli("endpoint", "test", "src", "--user", "user01@example.com", "--password-file", wrong); code == 0 {
		t.Error("endpoint test with a wrong password succeeded")
	}
	csvPath := filepath.Join(t.TempDir(), "users.csv")
	os.WriteFile(csvPath, []byte(m.csv), 0o600)
	s.must("batch", "create", "b", "--source-endpoint", "src", "--dest-endpoint", "dst", "--csv", csvPath, "--start")
	s.waitBatch("b", time.Minute, service.BatchSynced)
	out := serve.out.String()

	logins := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var rec struct {
			Level, Msg, Side, Line string
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("serve's log has a line that is not JSON: %v\n%s", err, line)
		}
		if rec.Level == "TRACE" && rec.Msg == "IMAP" && strings.HasSuffix(rec.Line, " AUTHENTICATE PLAIN ***") {
			logins[rec.Side]++
		}
	}
	for _, side := range []string{"source", "destination", "endpoint test"} {
		if logins[side] == 0 {
			t.Errorf("no redacted %s login in serve's trace; logins by side: %v", side, logins)
		}
	}
	var secrets []string
	for i := 1; i <= 2; i++ {
		u := fmt.Sprintf("user%02d@example.com", i)
		for _, pw := range []string{fmt.Sprintf("src pw %d", i), fmt.Sprintf("dst,pw;%d", i)} {
			secrets = append(secrets, pw, base64.StdEncoding.EncodeToString([]byte("\x00"+u+"\x00"+pw)))
		}
	}
	secrets = append(secrets, "src pw wrong", base64.StdEncoding.EncodeToString([]byte("\x00user01@example.com\x00src pw wrong")))
	for _, sec := range secrets {
		if strings.Contains(out, sec) {
			t.Errorf("serve's trace-level output holds the secret %q", sec)
		}
	}
}
