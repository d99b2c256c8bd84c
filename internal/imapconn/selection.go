package imapconn

import (
	"sync"
	"sync/atomic"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// Selection is a SELECT or EXAMINE sent on a connection. Its answer can
// be waited for any number of times (go-imap's command hangs on a second
// Wait), so that a caller can send a SELECT ahead of the commands meant
// for that folder, and whoever needs the folder next waits for the same
// answer instead of selecting it again (see Conn.Selection).
type Selection struct {
	Name     string
	ReadOnly bool
	// Alone says that no command sent after it can act on a folder
	// selected before it, even if it fails (see SelectAlone).
	Alone bool

	cmd      *imapclient.SelectCommand
	once     sync.Once
	answered atomic.Bool // data and err are set
	data     *imap.SelectData
	err      error
}

// Wait waits for the answer.
func (s *Selection) Wait() (*imap.SelectData, error) {
	s.once.Do(func() {
		s.data, s.err = s.cmd.Wait()
		s.answered.Store(true)
	})
	return s.data, s.err
}

// failed reports whether the answer was waited for and was a failure.
func (s *Selection) failed() bool {
	return s.answered.Load() && s.err != nil
}

// Select sends a SELECT, or an EXAMINE when options say ReadOnly, and
// remembers it as the connection's Selection.
func (c *Conn) Select(mailbox string, options *imap.SelectOptions) *Selection {
	sel := &Selection{Name: mailbox, ReadOnly: options != nil && options.ReadOnly}
	c.selMu.Lock()
	defer c.selMu.Unlock()
	sel.cmd = c.Client.Select(mailbox, options)
	c.sel = sel
	return sel
}

// SelectAlone is Select for a folder whose messages are changed (STORE)
// by commands sent before its answer is read. RFC 3501 says that a SELECT
// that fails leaves no folder selected, so that such commands fail; on a
// server that kept the folder selected before, they would change its
// messages instead. Where the server has UNSELECT (RFC 3691), an UNSELECT
// goes first, and the Selection is Alone; elsewhere the caller must wait
// for the answer before changing anything.
func (c *Conn) SelectAlone(mailbox string, options *imap.SelectOptions) *Selection {
	c.selMu.Lock()
	first := c.sel == nil
	c.selMu.Unlock()
	unselect := !first && c.Caps().Has(imap.CapUnselect)
	if unselect {
		// Its answer (an error if nothing is selected) does not matter.
		c.Unselect()
	}
	sel := c.Select(mailbox, options)
	sel.Alone = first || unselect
	return sel
}

// Selection returns the SELECT or EXAMINE of mailbox last sent on the
// connection, answered or not, when it was the last one sent, in that
// mode, and has not failed: commands sent after it act on that folder.
// Otherwise it returns nil.
func (c *Conn) Selection(mailbox string, readOnly bool) *Selection {
	c.selMu.Lock()
	sel := c.sel
	c.selMu.Unlock()
	if sel == nil || sel.Name != mailbox || sel.ReadOnly != readOnly || sel.failed() {
		return nil
	}
	return sel
}
