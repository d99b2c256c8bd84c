package testserver

import (
	"errors"
	"fmt"
)

// Relaunch starts a stopped instance again on the same ports with the same
// configuration and mail. With Stop, it makes a server that is down for as
// long as a test wants, as during a maintenance window; Restart does both
// at once. The ports were free while the server was down, so another
// process may have taken one meanwhile: Relaunch then fails.
func (d *Dovecot) Relaunch() error {
	if d.ownsDir {
		// Stop removed the directory of an instance made by Start.
		return errors.New("relaunch dovecot: an instance made by Start cannot be relaunched after Stop")
	}
	if err := d.launch(); err != nil {
		return fmt.Errorf("relaunch dovecot: %w", err)
	}
	return nil
}
