package batch_test

import (
	"fmt"

	"github.com/imapmigrate/imapmigrate/internal/batch"
)

// A file exported from Excel in a German locale: semicolons, CRLF, and three
// mistakes, all reported at once.
func ExampleParse() {
	data := "EmailAddress;UserName;Password;DestinationPasswort\r\n" +
		"alice@example.com;alice;Secret-1;\r\n" +
		"bob@;bob;Secret-2;\r\n" +
		"Alice@Example.com;alice;Secret-3;\r\n"
	_, problems := batch.Parse([]byte(data), batch.Options{})
	for _, p := range problems {
		fmt.Println(p)
	}

	rows, _ := batch.Parse([]byte("EmailAddress,UserName,Password\nalice@example.com,alice, pw with spaces \n"), batch.Options{})
	fmt.Printf("line %d: %s logs in as %s with %q\n", rows[0].Line, rows[0].EmailAddress, rows[0].UserName, rows[0].Password)
	// Output:
	// line 1: DestinationPasswort is not a known column (did you mean DestinationPassword?); accepted columns: EmailAddress, UserName, Password, UserRoot, DestinationUserName, DestinationPassword, RefreshToken, DestinationRefreshToken
	// line 3: EmailAddress "bob@": missing domain
	// line 4: EmailAddress "Alice@Example.com": already on line 2
	// line 2: alice@example.com logs in as alice with " pw with spaces "
}
