package mailsync

import (
	"fmt"

	"github.com/imapmigrate/imapmigrate/internal/imapconn"
)

// APPENDLIMIT (RFC 7889): a destination that advertises APPENDLIMIT=N in
// its capabilities refuses any APPEND of more than N bytes. Such messages
// are skipped before any APPEND (reason ReasonOverAppendLimit, with the
// limit in the detail) instead of being sent, refused, and costing a
// dropped connection each (copyOne). A bare APPENDLIMIT, with per-folder
// limits in STATUS, is not read: those messages are still refused one by
// one (reason rejected). Dovecot does not advertise it by itself; an admin
// can, with imap_capability = +APPENDLIMIT=N next to quota_max_mail_size.

// appendLimitOf returns the destination's APPENDLIMIT, or 0 when it has
// none or none for the whole server.
func appendLimitOf(dst *imapconn.Conn) int64 {
	limit, ok := dst.Caps().AppendLimit()
	if !ok || limit == nil {
		return 0
	}
	return int64(*limit)
}

// overAppendLimit skips m and reports it when it is larger than the
// destination's APPENDLIMIT.
func (s *run) overAppendLimit(fr *folderRun, m *srcMsg) bool {
	if s.appendLimit <= 0 || m.size() <= s.appendLimit {
		return false
	}
	fr.rep.Skipped[ReasonOverAppendLimit]++
	s.addSkipped(Item{Folder: fr.m.Display, UID: uint32(m.uid), Size: m.size(), Date: m.date.time(), Reason: ReasonOverAppendLimit,
		Detail: fmt.Sprintf("%d bytes is over the destination's APPENDLIMIT of %d bytes (RFC 7889)", m.size(), s.appendLimit)})
	return true
}
