package secret_test

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/imapmigrate/imapmigrate/internal/secret"
)

const password = "hunter2-very-secret"

type login struct {
	User     string
	Password secret.Secret
	Nested   struct{ Token secret.Secret }
	Ptr      *secret.Secret
}

func newLogin() login {
	p := secret.Secret(password)
	l := login{User: "alice", Password: secret.Secret(password), Ptr: &p}
	l.Nested.Token = secret.Secret(password)
	return l
}

func TestSecretReveal(t *testing.T) {
	t.Parallel()
	if got := secret.Secret(password).Reveal(); got != password {
		t.Errorf("Reveal() = %q; want %q", got, password)
	}
}

func TestSecretNeverPrints(t *testing.T) {
	t.Parallel()
	s := secret.Secret(password)
	l := newLogin()
	tests := []struct {
		name string
		got  string
		want string // when set, the exact output
	}{
		{name: "V", got: fmt.Sprintf("%v", s), want: "***"},
		{name: "S", got: fmt.Sprintf("%s", s), want: "***"},
		{name: "Q", got: fmt.Sprintf("%q", s), want: "***"},
		{name: "GoSyntax", got: fmt.Sprintf("%#v", s), want: "***"},
		{name: "PlusV", got: fmt.Sprintf("%+v", s), want: "***"},
		{name: "Hex", got: fmt.Sprintf("%x", s), want: "***"},
		{name: "Width", got: fmt.Sprintf("%-30s|", s), want: "***|"},
		{name: "String", got: s.String(), want: "***"},
		{name: "Println", got: fmt.Sprintln(s, l), want: ""},
		{name: "StructV", got: fmt.Sprintf("%v", l)},
		{name: "StructPlusV", got: fmt.Sprintf("%+v", l)},
		{name: "StructGoSyntax", got: fmt.Sprintf("%#v", l)},
		{name: "Slice", got: fmt.Sprintf("%v %q", []secret.Secret{s}, []secret.Secret{s})},
		{name: "Map", got: fmt.Sprintf("%v", map[string]secret.Secret{"pw": s})},
		{name: "Error", got: fmt.Errorf("login %s with %v: %w", "alice", s, fmt.Errorf("denied")).Error()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if strings.Contains(tt.got, password) {
				t.Errorf("output %q shows the secret", tt.got)
			}
			if tt.want != "" && tt.got != tt.want {
				t.Errorf("output %q; want %q", tt.got, tt.want)
			}
			if tt.want == "" && !strings.Contains(tt.got, "***") {
				t.Errorf("output %q does not show ***", tt.got)
			}
		})
	}
}

func TestSecretSlog(t *testing.T) {
	t.Parallel()
	handlers := []struct {
		name string
		new  func(*bytes.Buffer) slog.Handler
	}{
		{"Text", func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) }},
		{"JSON", func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) }},
	}
	for _, h := range handlers {
		t.Run(h.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			log := slog.New(h.new(&buf))
			s := secret.Secret(password)
			log.Info("login", "password", s, "user", "alice")
			log.Info("login", slog.Any("password", s))
			log.Info("login", "login", newLogin())
			log.With("password", s).WithGroup("g").Info("login", "password", s)
			log.Info("login", slog.Group("auth", "password", s))
			out := buf.String()
			if strings.Contains(out, password) {
				t.Errorf("log shows the secret:\n%s", out)
			}
			if got := strings.Count(out, "***"); got < 6 {
				t.Errorf("log shows *** %d times; want at least 6:\n%s", got, out)
			}
		})
	}
}

func TestSecretJSON(t *testing.T) {
	t.Parallel()
	b, err := json.Marshal(newLogin())
	if err != nil {
		t.Fatalf("json.Marshal: %v", err)
	}
	want := `{"User":"alice","Password":"***","Nested":{"Token":"***"},"Ptr":"***"}`
	if string(b) != want {
		t.Errorf("json.Marshal(login) = %s; want %s", b, want)
	}
	b, err = json.Marshal(map[string]secret.Secret{"pw": password})
	if err != nil || string(b) != `{"pw":"***"}` {
		t.Errorf("json.Marshal(map) = %s, %v; want {\"pw\":\"***\"}", b, err)
	}
}

func TestSecretText(t *testing.T) {
	t.Parallel()
	type account struct{ Password secret.Secret }
	b, err := xml.Marshal(account{password})
	if err != nil {
		t.Fatalf("xml.Marshal: %v", err)
	}
	if strings.Contains(string(b), password) || !strings.Contains(string(b), "***") {
		t.Errorf("xml.Marshal = %s; want the secret redacted", b)
	}
}

// TestSecretDecodes checks that a Secret still reads from JSON, as API
// request bodies carry passwords in.
func TestSecretDecodes(t *testing.T) {
	t.Parallel()
	var v struct{ Password secret.Secret }
	if err := json.Unmarshal([]byte(`{"Password":"`+password+`"}`), &v); err != nil {
		t.Fatal(err)
	}
	if v.Password.Reveal() != password {
		t.Errorf("decoded Password = %q; want %q", v.Password.Reveal(), password)
	}
}
