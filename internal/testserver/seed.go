package testserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// appendWindow is how many APPENDs Seed keeps in flight. Waiting for each
// tagged OK costs a round trip per message; a small window removes that
// without letting a rejected message hide far behind later ones.
const appendWindow = 16

// Seed appends msgs over IMAP as user (LOGIN user/password) at addr, plain
// text. Folders are created as needed, parents first, and subscribed, as a
// mail client would leave them; each display path is mapped to the server's
// names with the separator and personal prefix the server reports. Flags and
// INTERNALDATE are kept, and messages are appended in slice order, so UIDs
// follow that order within each folder.
func Seed(ctx context.Context, addr, user, password string, msgs []Message) (err error) {
	c, done, err := login(ctx, addr, user, password)
	if err != nil {
		return fmt.Errorf("seed %s: %w", user, err)
	}
	defer func() { err = done(err) }()

	ns, err := namespace(c)
	if err != nil {
		return fmt.Errorf("seed %s: %w", user, err)
	}

	existing := map[string]bool{"INBOX": true}
	list, err := c.List("", "*", nil).Collect()
	if err != nil {
		return fmt.Errorf("seed %s: list folders: %w", user, err)
	}
	for _, mb := range list {
		if !hasAttr(mb.Attrs, imap.MailboxAttrNoSelect) && !hasAttr(mb.Attrs, imap.MailboxAttrNonExistent) {
			existing[mb.Mailbox] = true
		}
	}

	names := map[string]string{} // display path → server name
	for _, m := range msgs {
		if _, ok := names[m.Folder]; ok {
			continue
		}
		chain, err := ns.ancestry(m.Folder)
		if err != nil {
			return fmt.Errorf("seed %s: %w", user, err)
		}
		for _, name := range chain {
			if !existing[name] {
				err := c.Create(name, nil).Wait()
				var imapErr *imap.Error
				if err != nil && !(errors.As(err, &imapErr) && imapErr.Code == imap.ResponseCodeAlreadyExists) {
					return fmt.Errorf("seed %s: create folder %q: %w", user, name, err)
				}
				existing[name] = true
			}
			if err := c.Subscribe(name).Wait(); err != nil {
				return fmt.Errorf("seed %s: subscribe folder %q: %w", user, name, err)
			}
		}
		names[m.Folder] = chain[len(chain)-1]
	}

	type inFlight struct {
		cmd   *imapclient.AppendCommand
		index int
	}
	var pending []inFlight
	wait := func(p inFlight) error {
		if _, err := p.cmd.Wait(); err != nil {
			m := msgs[p.index]
			return fmt.Errorf("seed %s: append message %d (%d bytes) to folder %q: %w", user, p.index, len(m.Raw), names[m.Folder], err)
		}
		return nil
	}
	for i, m := range msgs {
		cmd := c.Append(names[m.Folder], int64(len(m.Raw)), &imap.AppendOptions{Flags: m.Flags, Time: m.Date})
		_, werr := cmd.Write(m.Raw)
		cerr := cmd.Close()
		pending = append(pending, inFlight{cmd, i})
		if werr != nil || cerr != nil {
			// The server refused the literal; its answer says why.
			for _, p := range pending {
				if err := wait(p); err != nil {
					return err
				}
			}
			return fmt.Errorf("seed %s: append message %d to folder %q: %w", user, i, names[m.Folder], errors.Join(werr, cerr))
		}
		if len(pending) >= appendWindow {
			if err := wait(pending[0]); err != nil {
				return err
			}
			pending = pending[1:]
		}
	}
	for _, p := range pending {
		if err := wait(p); err != nil {
			return err
		}
	}
	return nil
}

// login connects without TLS and logs in. done logs out, closes the
// connection and, if ctx ended the session, turns the resulting I/O error
// into ctx's error.
func login(ctx context.Context, addr, user, password string) (c *imapclient.Client, done func(error) error, err error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to %s: %w", addr, err)
	}
	c = imapclient.New(conn, nil)
	// go-imap commands take no context; closing the connection is the only
	// way to interrupt one.
	stop := context.AfterFunc(ctx, func() { c.Close() })
	done = func(err error) error {
		if err == nil {
			err = c.Logout().Wait()
		}
		c.Close()
		if !stop() && ctx.Err() != nil {
			return fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		return err
	}
	if err := c.Login(user, password).Wait(); err != nil {
		return nil, nil, done(fmt.Errorf("login at %s: %w", addr, err))
	}
	return c, done, nil
}

// serverNamespace is how the server names folders for this user.
type serverNamespace struct {
	prefix string // personal namespace prefix, e.g. "" or "INBOX."
	delim  rune   // hierarchy separator, e.g. '/' or '.'
}

// namespace asks NAMESPACE (RFC 2342) for the personal prefix and
// separator, and falls back to LIST "" "" for the separator alone.
func namespace(c *imapclient.Client) (serverNamespace, error) {
	if c.Caps().Has(imap.CapNamespace) {
		data, err := c.Namespace().Wait()
		if err != nil {
			return serverNamespace{}, fmt.Errorf("namespace: %w", err)
		}
		if len(data.Personal) > 0 {
			return serverNamespace{prefix: data.Personal[0].Prefix, delim: data.Personal[0].Delim}, nil
		}
	}
	list, err := c.List("", "", nil).Collect()
	if err != nil {
		return serverNamespace{}, fmt.Errorf("list separator: %w", err)
	}
	if len(list) == 0 || list[0].Delim == 0 {
		return serverNamespace{}, errors.New("list separator: server reports a flat namespace")
	}
	return serverNamespace{delim: list[0].Delim}, nil
}

// ancestry maps a display path ("Archive/2019") to server names, the
// parents first and the folder itself last ("Archive", "Archive/2019"; with
// Courier's prefix "INBOX.Archive", "INBOX.Archive.2019"). INBOX is never
// prefixed, and with an "INBOX." prefix "INBOX/x" becomes "INBOX.x" rather
// than "INBOX.INBOX.x".
func (ns serverNamespace) ancestry(display string) ([]string, error) {
	if strings.EqualFold(display, "INBOX") {
		return []string{"INBOX"}, nil
	}
	parts := strings.Split(display, "/")
	for _, p := range parts {
		if p == "" {
			return nil, fmt.Errorf("folder %q: empty name component", display)
		}
		if strings.ContainsRune(p, ns.delim) {
			return nil, fmt.Errorf("folder %q: component %q holds the server's separator %q", display, p, ns.delim)
		}
	}
	sep := string(ns.delim)
	prefix := ns.prefix
	var chain []string
	start := 0
	if strings.EqualFold(parts[0], "INBOX") && (prefix == "" || strings.EqualFold(prefix, "INBOX"+sep)) {
		parts[0] = "INBOX"
		chain = append(chain, "INBOX")
		start = 1
		prefix = ""
	}
	for i := start; i < len(parts); i++ {
		chain = append(chain, prefix+strings.Join(parts[:i+1], sep))
	}
	return chain, nil
}

// Folder returns the snapshot of the folder with the given display path
// ("Archive/2019"), mapped with the snapshot's separator and prefix as Seed
// maps it, or nil if there is none.
func (s *Snapshot) Folder(display string) *FolderSnap {
	chain, err := serverNamespace{prefix: s.Prefix, delim: s.Delim}.ancestry(display)
	if err != nil {
		return nil
	}
	return s.Folders[chain[len(chain)-1]]
}

func hasAttr(attrs []imap.MailboxAttr, attr imap.MailboxAttr) bool {
	for _, a := range attrs {
		if strings.EqualFold(string(a), string(attr)) {
			return true
		}
	}
	return false
}
