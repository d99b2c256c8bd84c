package notify_test

import (
	"fmt"

	"github.com/imapmigrate/imapmigrate/internal/notify"
)

// The English default letter for a user whose login changes, with the
// outgoing server and a word from the admin.
func ExampleRender() {
	letter, err := notify.Render("en", "", notify.WelcomeData{
		Organization: "Example Corp IT",
		Address:      "alice@example.com",
		SourceUser:   "alice",
		IMAP:         notify.Server{Host: "imap.example.com", Security: "tls"},
		SMTP:         &notify.Server{Host: "smtp.example.com", Security: "starttls"},
		WebmailURL:   "https://mail.example.com/",
		Message:      "Your new password is in the envelope from IT.",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("Subject:", letter.Subject)
	fmt.Println()
	fmt.Print(letter.Body)
	// Output:
	// Subject: Your mailbox alice@example.com is moving to a new server
	//
	// Hello,
	//
	// Example Corp IT is moving your mailbox alice@example.com to a new
	// mail server. Your messages and folders are copied for you, with their
	// read, flagged and answered marks: you have nothing to do for that.
	//
	// Your new password is in the envelope from IT.
	//
	// To read and send your mail, set up your mail program with these
	// settings:
	//
	// Incoming mail (IMAP)
	//   Server:     imap.example.com
	//   Port:       993
	//   Security:   SSL/TLS
	//   User name:  alice@example.com
	//
	// Outgoing mail (SMTP)
	//   Server:     smtp.example.com
	//   Port:       587
	//   Security:   STARTTLS
	//   User name:  alice@example.com
	//
	// You can also read your mail in a web browser at https://mail.example.com/
	//
	// Your user name on the old server was alice; on the new
	// server it is alice@example.com.
	//
	// Until the move is finished, new mail may still arrive in your old
	// mailbox; it is copied to the new one as well.
	//
	// Regards,
	// Example Corp IT
}
