package batch_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/imapmigrate/imapmigrate/internal/batch"
)

const header = "EmailAddress,UserName,Password\n"

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		data string
		opts batch.Options
		want []batch.Row
	}{
		{
			name: "Minimal",
			data: header + "alice@example.com,alice,s3cret\n",
			want: []batch.Row{{Line: 2, EmailAddress: "alice@example.com", UserName: "alice", Password: "s3cret"}},
		},
		{
			name: "CRLFAndNoFinalNewline",
			data: "EmailAddress,UserName,Password\r\nalice@example.com,alice,pw1\r\nbob@example.com,bob,pw2",
			want: []batch.Row{
				{Line: 2, EmailAddress: "alice@example.com", UserName: "alice", Password: "pw1"},
				{Line: 3, EmailAddress: "bob@example.com", UserName: "bob", Password: "pw2"},
			},
		},
		{
			name: "BOM",
			data: "\uFEFF" + header + "alice@example.com,alice,pw\n",
			want: []batch.Row{{Line: 2, EmailAddress: "alice@example.com", UserName: "alice", Password: "pw"}},
		},
		{
			name: "Semicolon",
			data: "EmailAddress;UserName;Password\nalice@example.com;alice;p,w\n",
			want: []batch.Row{{Line: 2, EmailAddress: "alice@example.com", UserName: "alice", Password: "p,w"}},
		},
		{
			name: "Tab",
			data: "EmailAddress\tUserName\tPassword\nalice@example.com\talice\tp;w,x\n",
			want: []batch.Row{{Line: 2, EmailAddress: "alice@example.com", UserName: "alice", Password: "p;w,x"}},
		},
		{
			name: "HeaderCaseAndSpaces",
			data: " emailaddress , USERNAME,password\nalice@example.com,alice,pw\n",
			want: []batch.Row{{Line: 2, EmailAddress: "alice@example.com", UserName: "alice", Password: "pw"}},
		},
		{
			name: "ColumnsInAnyOrderWithOptionalOnes",
			data: "Password,DestinationPassword,UserRoot,DestinationUserName,UserName,EmailAddress\n" +
				"pw,dpw,/users/alice,alice.dest,alice,alice@example.com\n",
			want: []batch.Row{{
				Line: 2, EmailAddress: "alice@example.com", UserName: "alice", Password: "pw",
				UserRoot: "/users/alice", DestUserName: "alice.dest", DestPassword: "dpw",
			}},
		},
		{
			name: "RefreshTokens",
			data: "EmailAddress,UserName,RefreshToken,destinationrefreshtoken\n" +
				"alice@example.com,alice, 1//0gRt-src ,M.R3_dst\n",
			opts: batch.Options{PasswordOptional: true},
			want: []batch.Row{{Line: 2, EmailAddress: "alice@example.com", UserName: "alice",
				RefreshToken: "1//0gRt-src", DestRefreshToken: "M.R3_dst"}},
		},
		{
			name: "PasswordsKeptExactly",
			data: "EmailAddress,UserName,Password,DestinationUserName,DestinationPassword\n" +
				`alice@example.com,alice,"  a, ""quoted"" pw  ",dest,"  x""y, "` + "\n" +
				"bob@example.com,bob, lead and trail ,,\n",
			want: []batch.Row{
				{Line: 2, EmailAddress: "alice@example.com", UserName: "alice", Password: `  a, "quoted" pw  `, DestUserName: "dest", DestPassword: `  x"y, `},
				{Line: 3, EmailAddress: "bob@example.com", UserName: "bob", Password: " lead and trail "},
			},
		},
		{
			name: "OtherFieldsTrimmed",
			data: header + "  alice@example.com , alice\t,pw\n",
			want: []batch.Row{{Line: 2, EmailAddress: "alice@example.com", UserName: "alice", Password: "pw"}},
		},
		{
			name: "QuotedNewlineSpansLines",
			data: header + "alice@example.com,alice,\"line1\nline2\"\nbob@example.com,bob,pw\n",
			want: []batch.Row{
				{Line: 2, EmailAddress: "alice@example.com", UserName: "alice", Password: "line1\nline2"},
				{Line: 4, EmailAddress: "bob@example.com", UserName: "bob", Password: "pw"},
			},
		},
		{
			name: "BlankLinesAndEmptyRowsSkipped",
			data: "\n\n" + header + "\nalice@example.com,alice,pw\n   \n,,\n , \n\nbob@example.com,bob,pw\n,,\n",
			want: []batch.Row{
				{Line: 5, EmailAddress: "alice@example.com", UserName: "alice", Password: "pw"},
				{Line: 10, EmailAddress: "bob@example.com", UserName: "bob", Password: "pw"},
			},
		},
		{
			name: "PasswordOptionalAcceptsEmpty",
			data: header + "alice@example.com,alice,\n",
			opts: batch.Options{PasswordOptional: true},
			want: []batch.Row{{Line: 2, EmailAddress: "alice@example.com", UserName: "alice"}},
		},
		{
			name: "PasswordOptionalAcceptsMissingColumn",
			data: "EmailAddress,UserName\nalice@example.com,alice\n",
			opts: batch.Options{PasswordOptional: true},
			want: []batch.Row{{Line: 2, EmailAddress: "alice@example.com", UserName: "alice"}},
		},
		{
			name: "MaxRowsExactly",
			data: header + "a@example.com,a,pw\nb@example.com,b,pw\n",
			opts: batch.Options{MaxRows: 2},
			want: []batch.Row{
				{Line: 2, EmailAddress: "a@example.com", UserName: "a", Password: "pw"},
				{Line: 3, EmailAddress: "b@example.com", UserName: "b", Password: "pw"},
			},
		},
		{
			name: "UnicodeAddress",
			data: header + "jörg@bücher.example,jörg,pässwörd\n",
			want: []batch.Row{{Line: 2, EmailAddress: "jörg@bücher.example", UserName: "jörg", Password: "pässwörd"}},
		},
		{
			name: "SameDestinationUserNameOnlyWhenGiven",
			data: "EmailAddress,UserName,Password,DestinationUserName\na@example.com,a,pw,\nb@example.com,b,pw,\n",
			want: []batch.Row{
				{Line: 2, EmailAddress: "a@example.com", UserName: "a", Password: "pw"},
				{Line: 3, EmailAddress: "b@example.com", UserName: "b", Password: "pw"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rows, problems := batch.Parse([]byte(tt.data), tt.opts)
			if len(problems) > 0 {
				t.Fatalf("Parse(%q) problems:\n%s", tt.data, join(problems))
			}
			if !reflect.DeepEqual(rows, tt.want) {
				t.Errorf("Parse(%q) =\n%+v\nwant\n%+v", tt.data, rows, tt.want)
			}
		})
	}
}

// problem is an expected problem: its line and column, and text its message
// must contain.
type problem struct {
	line   int
	column string
	text   string
}

func TestParseProblems(t *testing.T) {
	t.Parallel()
	accepted := "accepted columns: EmailAddress, UserName, Password, UserRoot, DestinationUserName, DestinationPassword, RefreshToken, DestinationRefreshToken"
	tests := []struct {
		name string
		data string
		opts batch.Options
		want []problem
	}{
		{
			name: "EmptyFile",
			data: "",
			want: []problem{{0, "", "no users"}},
		},
		{
			name: "OnlyBlankLines",
			data: "\uFEFF\r\n \n\t\n",
			want: []problem{{0, "", "no users"}},
		},
		{
			name: "HeaderOnly",
			data: header,
			want: []problem{{0, "", "no users"}},
		},
		{
			name: "HeaderOnlyWithBlankRows",
			data: header + ",,\n\n",
			want: []problem{{0, "", "no users"}},
		},
		{
			name: "MisspeltColumn",
			data: "EmailAdress,UserName,Password\nalice@example.com,alice,pw\n",
			want: []problem{
				{1, "EmailAdress", "did you mean EmailAddress?"},
				{1, "", "required column EmailAddress;"},
			},
		},
		{
			name: "UnknownColumnListsAccepted",
			data: "EmailAddress,UserName,Password,Quota\nalice@example.com,alice,pw,10G\n",
			want: []problem{{1, "Quota", "is not a known column; " + accepted}},
		},
		{
			name: "EmptyColumnName",
			data: "EmailAddress,UserName,Password,\nalice@example.com,alice,pw,\n",
			want: []problem{{1, "", "column 4 of the header has no name"}},
		},
		{
			name: "MissingRequiredColumns",
			data: "EmailAddress,UserRoot\nalice@example.com,/a\n",
			want: []problem{{1, "", "required columns UserName, Password;"}},
		},
		{
			name: "MissingPasswordColumn",
			data: "EmailAddress,UserName\nalice@example.com,alice\n",
			want: []problem{{1, "", "required column Password;"}},
		},
		{
			name: "DataInsteadOfHeader",
			data: "alice@example.com,alice,pw\n",
			want: []problem{
				{0, "", "no users"},
				{1, "alice@example.com", "is not a known column"},
				{1, "alice", "is not a known column"},
				{1, "pw", "is not a known column"},
				{1, "", "required columns EmailAddress, UserName, Password; the first line must name the columns"},
			},
		},
		{
			name: "DuplicateColumn",
			data: "EmailAddress,UserName,Password,emailaddress\nalice@example.com,alice,pw,x\n",
			want: []problem{{1, "EmailAddress", "appears twice in the header (columns 1 and 4)"}},
		},
		{
			name: "BareQuote",
			data: header + "alice@example.com,alice,p\"w\nbob@example.com,bob,pw\n",
			want: []problem{{2, "", "bad quoting"}},
		},
		{
			name: "TextAfterClosingQuote",
			data: header + "alice@example.com,alice,\"pw\"x\nbob@example.com,bob,pw\n",
			want: []problem{{2, "", "bad quoting"}},
		},
		{
			name: "UnclosedQuoteReportsRecordStart",
			data: header + "alice@example.com,alice,pw\nbob@example.com,bob,\"pw\ncarol@example.com,carol,pw\n",
			want: []problem{{3, "", "is never closed"}},
		},
		{
			name: "BrokenHeader",
			data: "EmailAddress,User\"Name,Password\nalice@example.com,alice,pw\n",
			want: []problem{{1, "", "bad quoting"}},
		},
		{
			name: "NotUTF8",
			data: header + "alice@example.com,alice,pw\njoerg@example.com,j\xf6rg,pw\nbob@example.com,bob,pw\n\xe9@example.com,x,pw\n",
			want: []problem{{3, "", "not UTF-8"}, {5, "", "not UTF-8"}},
		},
		{
			name: "TooManyFields",
			data: header + "alice@example.com,alice,pw,extra\n",
			want: []problem{{2, "", "has 4 fields but the header has 3"}},
		},
		{
			name: "TooFewFields",
			data: header + "alice@example.com,alice\n",
			want: []problem{{2, "", "has 2 fields but the header has 3"}},
		},
		{
			name: "EmptyRequiredFields",
			data: header + " ,alice,pw\nbob@example.com,  ,pw\ncarol@example.com,carol,\n",
			want: []problem{
				{2, "EmailAddress", "is empty"},
				{3, "UserName", "is empty"},
				{4, "Password", "is empty"},
			},
		},
		{
			name: "MissingDomain",
			data: header + "bob@,bob,pw\n",
			want: []problem{{2, "EmailAddress", `"bob@": missing domain`}},
		},
		{
			name: "BadAddresses",
			data: header +
				"bob smith@example.com,a,pw\n" +
				"Bob <bob@example.com>,a,pw\n" +
				"bob.example.com,a,pw\n" +
				"bob@@example.com,a,pw\n" +
				"@example.com,a,pw\n" +
				"bob@example..com,a,pw\n" +
				".bob@example.com,a,pw\n" +
				"bob@example.com(Bob),a,pw\n" +
				"bob@exa\"mple.com,a,pw\n" +
				"\"bob\"@example.com,a,pw\n",
			want: []problem{
				{2, "EmailAddress", `"bob smith@example.com": has spaces`},
				{3, "EmailAddress", `"Bob <bob@example.com>": has angle brackets`},
				{4, "EmailAddress", `"bob.example.com": missing @`},
				{5, "EmailAddress", `"bob@@example.com": has more than one @`},
				{6, "EmailAddress", `"@example.com": missing the part before @`},
				{7, "EmailAddress", `"bob@example..com": has a misplaced dot in the domain`},
				{8, "EmailAddress", `".bob@example.com": has a misplaced dot before @`},
				{9, "EmailAddress", `"bob@example.com(Bob)": is not a`},
				{10, "", "bad quoting"},
				{11, "", "bad quoting"},
			},
		},
		{
			name: "DuplicateAddressIgnoresCase",
			data: header + "alice@example.com,alice,pw\nbob@example.com,bob,pw\nAlice@Example.COM,alice2,pw\n",
			want: []problem{{4, "EmailAddress", `"Alice@Example.COM": already on line 2`}},
		},
		{
			name: "DuplicateDestinationUserName",
			data: "EmailAddress,UserName,Password,DestinationUserName\n" +
				"alice@example.com,alice,pw,shared\nbob@example.com,bob,pw,\ncarol@example.com,carol,pw,SHARED\n",
			want: []problem{{4, "DestinationUserName", `"SHARED": already on line 2`}},
		},
		{
			name: "DestinationPasswordWithoutUserName",
			data: "EmailAddress,UserName,Password,DestinationUserName,DestinationPassword\n" +
				"alice@example.com,alice,pw,,dpw\n",
			want: []problem{{2, "DestinationPassword", "is given without DestinationUserName"}},
		},
		{
			name: "TooManyRows",
			data: header + "a@example.com,a,pw\nb@example.com,b,pw\nc@example.com,c,pw\nbad,,\n",
			opts: batch.Options{MaxRows: 2},
			want: []problem{{0, "", "more than 2 users; split the file"}},
		},
		{
			name: "TooManyRowsKeepsEarlierProblems",
			data: header + "a@example.com,,pw\nb@example.com,b,pw\nc@example.com,c,pw\n",
			opts: batch.Options{MaxRows: 2},
			want: []problem{{0, "", "more than 2 users"}, {2, "UserName", "is empty"}},
		},
		{
			name: "LineNumbersAfterMultilineField",
			data: header + "a@example.com,a,\"p\r\nw\"\r\n\r\nb@example.com,,pw\r\n",
			want: []problem{{5, "UserName", "is empty"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rows, problems := batch.Parse([]byte(tt.data), tt.opts)
			if rows != nil {
				t.Errorf("Parse(%q) returned rows %+v along with problems", tt.data, rows)
			}
			checkProblems(t, tt.data, problems, tt.want)
		})
	}
}

func checkProblems(t *testing.T, data string, got []batch.Problem, want []problem) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("Parse(%q) gave %d problems:\n%s\nwant %d: %+v", data, len(got), join(got), len(want), want)
	}
	for i, w := range want {
		g := got[i]
		if g.Line != w.line || g.Column != w.column || !strings.Contains(g.Message, w.text) {
			t.Errorf("Parse(%q) problem %d = {%d %q %q}; want line %d, column %q, message containing %q",
				data, i, g.Line, g.Column, g.Message, w.line, w.column, w.text)
		}
	}
}

func join(ps []batch.Problem) string {
	var b strings.Builder
	for _, p := range ps {
		fmt.Fprintf(&b, "\t%s\n", p)
	}
	return b.String()
}

func TestParseManyEncodingProblems(t *testing.T) {
	t.Parallel()
	data := header + strings.Repeat("j\xf6rg@example.com,j,pw\n", 25)
	_, problems := batch.Parse([]byte(data), batch.Options{})
	want := []problem{{0, "", "25 lines have bytes that are not UTF-8, the first on line 2"}}
	for line := 2; line <= 11; line++ {
		want = append(want, problem{line, "", "not UTF-8"})
	}
	checkProblems(t, data, problems, want)
}

// TestParseReportsEveryProblem checks that one pass over a file finds all
// its problems, in line order, and that none of them shows a password.
func TestParseReportsEveryProblem(t *testing.T) {
	t.Parallel()
	data := "EmailAddress;UserName;Password;DestinatonUserName\r\n" +
		"alice@example.com;alice;Secret-1;x\r\n" +
		"bob@;bob;Secret-2;y\r\n" +
		";carol;Secret-3;z\r\n" +
		"dave@example.com;;Secret-4\r\n" +
		"ALICE@example.com;alice2;Secret-5;w\r\n" +
		"erin@example.com;erin;\"Secret-6\r\n"
	_, problems := batch.Parse([]byte(data), batch.Options{})
	checkProblems(t, data, problems, []problem{
		{1, "DestinatonUserName", "did you mean DestinationUserName?"},
		{3, "EmailAddress", `"bob@": missing domain`},
		{4, "EmailAddress", "is empty"},
		{5, "", "has 3 fields but the header has 4"},
		{6, "EmailAddress", "already on line 2"},
		{7, "", "bad quoting"},
	})
	for _, p := range problems {
		if strings.Contains(p.String(), "Secret-") {
			t.Errorf("problem %q shows a password", p)
		}
	}
}

func TestProblemString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		p    batch.Problem
		want string
	}{
		{"WithColumn", batch.Problem{Line: 14, Column: "EmailAddress", Message: `"bob@": missing domain`}, `line 14: EmailAddress "bob@": missing domain`},
		{"WithoutColumn", batch.Problem{Line: 3, Message: "has 4 fields"}, "line 3: has 4 fields"},
		{"File", batch.Problem{Message: "no users"}, "file: no users"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.p.String(); got != tt.want {
				t.Errorf("%#v.String() = %q; want %q", tt.p, got, tt.want)
			}
		})
	}
}

func TestProblemJSON(t *testing.T) {
	t.Parallel()
	b, err := json.Marshal([]batch.Problem{{Line: 2, Column: "UserName", Message: "is empty"}, {Message: "no users"}})
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"line":2,"column":"UserName","message":"is empty"},{"line":0,"message":"no users"}]`
	if string(b) != want {
		t.Errorf("json.Marshal(problems) = %s; want %s", b, want)
	}
}

func TestParseStopsAtMaxRows(t *testing.T) {
	t.Parallel()
	// Every row after the limit is broken; none of them may be reported.
	data := header + "a@example.com,a,pw\n" + strings.Repeat("broken\n", 1000)
	_, problems := batch.Parse([]byte(data), batch.Options{MaxRows: 1})
	checkProblems(t, data, problems, []problem{{0, "", "more than 1 users"}})
}

func TestParseDefaultMaxRows(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString(header)
	for i := range batch.DefaultMaxRows + 1 {
		fmt.Fprintf(&b, "u%d@example.com,u%d,pw\n", i, i)
	}
	data := b.String()
	_, problems := batch.Parse([]byte(data), batch.Options{})
	if len(problems) != 1 || problems[0].Line != 0 || !strings.Contains(problems[0].Message, "more than 50000 users") {
		t.Errorf("Parse(%d rows) problems:\n%s\nwant one about more than 50000 users", batch.DefaultMaxRows+1, join(problems))
	}
}
