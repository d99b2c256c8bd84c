package mailsync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"

	"github.com/emersion/go-imap/v2"

	"github.com/imapmigrate/imapmigrate/internal/fingerprint"
	"github.com/imapmigrate/imapmigrate/internal/imapconn"
)

// Copying with MULTIAPPEND (RFC 3502), where the destination offers it
// with LITERAL+ (Dovecot, Cyrus): the messages of a unit stream from the
// source's FETCH into APPEND commands of up to groupMessages messages
// each, and the next group is written while the destination stores the
// one before. Dovecot stores a group in one transaction: about a third of
// its CPU per message (see imapconn/multiappend.go), which is what bounds a
// full pass on a machine that also runs the servers.
//
// Exactly once: a group's messages are recorded only after its tagged OK,
// as single APPENDs are. A group cut short (a source literal that ends
// early, a lost connection) is dropped with the connection, and the server
// discards a command it did not receive whole. A group whose answer is lost
// is reconciled by the retry. A group the destination refuses (NO, BAD) was
// stored not at all (the command is atomic), so its messages are sent
// again one APPEND each, and only the one the destination refuses is
// skipped, with the server's words. That holds for [OVERQUOTA] too: one
// by one, the newest messages fill what room is left before the mailbox
// is parked.
const (
	groupMessages = 50
	groupBytes    = 8 << 20
)

// appendGroup is one MULTIAPPEND: its messages in the order sent.
type appendGroup struct {
	cmd   *imapconn.MultiAppend
	msgs  []appending
	bytes int64
}

// appendToGroup streams one message into the lane's open group, opening
// one when there is none, and sends the group when it is full.
func (s *run) appendToGroup(ctx context.Context, l *lane, fr *folderRun, m *srcMsg, lit imap.LiteralReader) error {
	size := lit.Size()
	if l.group == nil {
		cmd, err := l.dst.MultiAppend(fr.m.Dest)
		if err != nil {
			return fmt.Errorf("append to %q: %w", fr.m.Dest, err)
		}
		l.group = &appendGroup{cmd: cmd}
	}
	g := l.group
	h := fingerprint.New()
	flags, receipt, disarmed := l.appendFlags(m)
	err := g.cmd.Message(flags, m.date.time(), size)
	if err == nil {
		var n int64
		n, err = io.CopyBuffer(g.cmd, io.TeeReader(lit, h), l.buf)
		if err == nil && n != size {
			err = fmt.Errorf("source sent %d of %d bytes", n, size)
		}
	}
	if err != nil {
		// Dropping the connection mid-command makes the destination
		// discard the whole group; the retry reconciles the groups sent.
		l.abort()
		return fmt.Errorf("copy uid %d of folder %q: %w", m.uid, fr.m.Display, err)
	}
	g.msgs = append(g.msgs, appending{m: m, fp: h.Sum(size), size: size, receipt: receipt, disarmed: disarmed})
	g.bytes += size
	if len(g.msgs) >= groupMessages || g.bytes >= groupBytes {
		return s.sendGroup(ctx, l, fr, 1)
	}
	return nil
}

// sendGroup ends the open group, if any, and settles the groups sent until
// at most keep await their answer.
func (s *run) sendGroup(ctx context.Context, l *lane, fr *folderRun, keep int) error {
	if g := l.group; g != nil {
		l.group = nil
		if err := g.cmd.Close(); err != nil {
			l.abort()
			return fmt.Errorf("append %d messages of folder %q to %q: %w", len(g.msgs), fr.m.Display, fr.m.Dest, err)
		}
		l.groups = append(l.groups, g)
	}
	for len(l.groups) > keep {
		g := l.groups[0]
		l.groups = l.groups[1:]
		data, err := g.cmd.Wait()
		if err != nil {
			var ie *imap.Error
			if !errors.As(err, &ie) {
				// The answer was lost with the connection: the retry
				// reconciles before appending again.
				l.abort()
				return fmt.Errorf("append %d messages of folder %q to %q: %w", len(g.msgs), fr.m.Display, fr.m.Dest, err)
			}
			if temporaryAppend(ie.Code) {
				l.abort()
				return errRetry{fmt.Errorf("append %d messages of folder %q to %q: %w", len(g.msgs), fr.m.Display, fr.m.Dest, err)}
			}
			for _, a := range g.msgs {
				l.refused = append(l.refused, *a.m)
			}
			s.log.Info("The destination refused a MULTIAPPEND; its messages go again one by one.",
				"folder", fr.m.Display, "messages", len(g.msgs), "said", errText(ie))
			continue
		}
		for i, a := range g.msgs {
			var uid imap.UID
			if len(data.UIDs) == len(g.msgs) {
				uid = data.UIDs[i]
			}
			if err := s.copied(ctx, l, fr, a, uid); err != nil {
				return err
			}
		}
	}
	return nil
}

// appendRefused sends the messages of refused groups again, one APPEND
// each, and adds what it handled to handled.
func (s *run) appendRefused(ctx context.Context, l *lane, fr *folderRun, handled map[imap.UID]bool, refused []srcMsg) (map[imap.UID]bool, error) {
	l.single = true
	defer func() { l.single = false }()
	more, err := s.copyBatch(ctx, l, fr, refused, nil)
	maps.Copy(handled, more)
	return handled, err
}
