// Package notify sends the service's mail: batch reports to a batch's
// notification addresses and welcome letters to its users.
//
// It has three parts that know nothing of the service:
//
//   - Message builds an Internet message (RFC 5322) with MIME (RFC 2045,
//     2046): a text/plain UTF-8 body in quoted-printable, attachments in
//     base64, non-ASCII header text as RFC 2047 encoded words and
//     non-ASCII file names as RFC 2231 parameters. Every message is
//     marked Auto-Submitted (RFC 3834) so that vacation responders do not
//     answer it.
//   - Mailer delivers one Message to a submission server (RFC 6409) with
//     go-smtp: implicit TLS (RFC 8314) or STARTTLS (RFC 3207) with the
//     certificate verified, AUTH PLAIN or LOGIN (RFC 4954) when a login
//     is configured, a timeout on every step and the caller's context.
//   - BatchReport and Render turn plain data into the text of a batch
//     report and of a welcome letter (text/template, English and French
//     defaults embedded, or the admin's own template).
//
// The service decides when to send and records what was sent to whom; it
// gets the Message-ID, the date and the server's answer in a Receipt.
package notify
