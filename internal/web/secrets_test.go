package web

import (
	"net/url"
	"strings"
	"testing"
)

// TestNoPasswordInAnswers gives the console passwords every way it takes
// them (endpoint admin passwords on add and edit, an endpoint test, CSV
// files on validate, create and add users, good and bad), then renders
// every page and JSON route. No answer, and no log line, holds one of
// them, nor the console's own password or token.
func TestNoPasswordInAnswers(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	c := tb.signIn(t)
	var answers []string
	keep := func(body string) { answers = append(answers, body) }

	const (
		addPW   = "canary-add-endpoint-pw"
		editPW  = "canary-edit-endpoint-pw"
		testPW  = "canary-endpoint-test-pw"
		wizPW   = "canary-wizard-csv-pw"
		addUsPW = "canary-add-users-pw"
	)
	epForm := func(name, pw string) url.Values {
		return url.Values{"name": {name}, "host": {name + ".example.com"}, "security": {"tls"}, "credentials": {"admin"},
			"admin_format": {"authzid"}, "admin_user": {"root"}, "admin_password": {pw}}
	}
	keep(c.post("/endpoints", epForm("third", addPW)).Body.String())
	keep(c.post("/endpoints", epForm("third", addPW)).Body.String()) // conflict: the form comes back
	bad := epForm("fourth", addPW)
	bad.Set("port", "nope")
	keep(c.post("/endpoints", bad).Body.String()) // invalid: the form comes back
	keep(c.post("/endpoints/third/edit", epForm("third", editPW)).Body.String())
	badEdit := epForm("third", editPW)
	badEdit.Set("max_concurrent_migrations", "many")
	keep(c.post("/endpoints/third/edit", badEdit).Body.String())
	keep(c.post("/endpoints/old/test", url.Values{"user": {"alice"}, "password": {testPW}}).Body.String())

	goodCSV := "EmailAddress,UserName,Password\ncarol@example.com,carol," + wizPW + "\n"
	badCSV := "EmailAddress,UserName,Password\ncarol,carol," + wizPW + "\ndave@example.com,dave," + wizPW + "\n"
	for _, op := range []string{"validate", "create"} {
		keep(c.upload("/batches/new", wizardForm(op), &badCSV).Body.String())
	}
	keep(c.upload("/batches/new", wizardForm("validate"), &goodCSV).Body.String())
	keep(c.upload("/batches/new", wizardForm("create"), &goodCSV).Body.String())
	addCSV := "EmailAddress,UserName,Password\nerin@example.com,erin," + addUsPW + "\n"
	addBad := "EmailAddress,UserName,Password\nerin,erin," + addUsPW + "\n"
	keep(c.upload("/batches/spring/users", nil, &addCSV).Body.String())
	keep(c.upload("/batches/spring/users", nil, &addBad).Body.String())
	keep(c.post("/login", url.Values{"password": {testPassword + "x"}}).Body.String())

	for _, rt := range tb.h.routes() {
		method, path := examplePath(rt.pattern)
		if method != "GET" {
			continue
		}
		keep(c.get(path).Body.String())
	}
	for _, p := range []string{"/batches/summer", "/users/carol@example.com", "/users/erin@example.com", "/endpoints/third/edit",
		"/endpoints/new/edit", "/ui/batches/summer/users.json", "/batches/summer/report.csv", "/batches/summer/report.json"} {
		keep(c.get(p).Body.String())
	}

	secrets := append(tb.fake.Secrets(), canaryAdminPW, canaryAlicePW, canaryBobPW, addPW, editPW, testPW, wizPW, addUsPW,
		testPassword, testToken)
	if len(tb.fake.Secrets()) < 8 {
		t.Fatalf("the fake saw %d passwords; the console did not pass them on", len(tb.fake.Secrets()))
	}
	for _, s := range secrets {
		if s == "" {
			continue
		}
		for i, a := range answers {
			if strings.Contains(a, s) {
				t.Errorf("answer %d holds the password %q:\n%s", i, s, a)
			}
		}
		if strings.Contains(tb.logs.String(), s) {
			t.Errorf("the log holds the password %q", s)
		}
	}
}
