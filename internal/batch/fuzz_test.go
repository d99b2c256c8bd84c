package batch_test

import (
	"slices"
	"testing"

	"github.com/imapmigrate/imapmigrate/internal/batch"
)

func FuzzParse(f *testing.F) {
	seeds := []string{
		"",
		header,
		header + "alice@example.com,alice,pw\n",
		"\uFEFFEmailAddress;UserName;Password\r\nalice@example.com;alice;\"p;\"\"w\"\r\n",
		"EmailAddress\tUserName\tPassword\tUserRoot\nalice@example.com\talice\t pw \t/u/alice\n",
		"EmailAddress,UserName,Password,DestinationUserName,DestinationPassword\na@x.com,a,pw,d,dpw\nb@x.com,b,pw,D,\n",
		header + "alice@example.com,alice,\"multi\nline\"\n\n,,\nbob@,bob,pw\n",
		header + "alice@example.com,alice,p\"w\n",
		header + "alice@example.com,alice,\"never closed\n",
		"EmailAdress,UserName,Pasword,Extra,\n",
		header + "j\xf6rg@example.com,j,pw\n",
		header + "a@x.com,a,pw\nA@X.COM,b,pw\n",
		header + "a@x.com,a\na@x.com,a,pw,x\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s), false, uint8(0))
		f.Add([]byte(s), true, uint8(1))
	}
	f.Fuzz(func(t *testing.T, data []byte, passwordOptional bool, maxRows uint8) {
		opts := batch.Options{PasswordOptional: passwordOptional, MaxRows: int(maxRows)}
		rows, problems := batch.Parse(data, opts)
		if !slices.IsSortedFunc(problems, func(a, b batch.Problem) int { return a.Line - b.Line }) {
			t.Errorf("Parse(%q) problems not sorted by line: %v", data, problems)
		}
		for _, p := range problems {
			if p.Line < 0 || p.Message == "" {
				t.Errorf("Parse(%q) gave problem %+v", data, p)
			}
		}
		if len(problems) > 0 {
			if rows != nil {
				t.Errorf("Parse(%q) gave rows and problems", data)
			}
			return
		}
		if len(rows) == 0 {
			t.Fatalf("Parse(%q) gave neither rows nor problems", data)
		}
		if maxRows > 0 && len(rows) > int(maxRows) {
			t.Errorf("Parse(%q) gave %d rows; MaxRows is %d", data, len(rows), maxRows)
		}
		for _, r := range rows {
			if r.EmailAddress == "" || r.UserName == "" || r.Line <= 1 {
				t.Errorf("Parse(%q) gave row %+v", data, r)
			}
			if r.Password == "" && !passwordOptional {
				t.Errorf("Parse(%q) gave row %+v without a password", data, r)
			}
		}
	})
}
