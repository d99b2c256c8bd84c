package dnscheck_test

import (
	"fmt"

	"github.com/imapmigrate/imapmigrate/internal/dnscheck"
)

// A destination is named by its MX host, or by a pattern for providers
// that give each domain its own host.
func ExampleMatchHost() {
	fmt.Println(dnscheck.MatchHost("Contoso-com.mail.protection.outlook.com.", "*.mail.protection.outlook.com"))
	fmt.Println(dnscheck.MatchHost("mail.protection.outlook.com", "*.mail.protection.outlook.com"))
	fmt.Println(dnscheck.MatchHost("MX.new.example.", "mx.new.example"))
	// Output:
	// true
	// false
	// true
}
