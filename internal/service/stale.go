package service

import "time"

// markStale flags a synced batch on which the admin has not acted for
// longer than Config.StaleAfter: incremental syncs that go on for weeks
// are usually a batch someone forgot to complete. It is only a flag (the
// API's stale, the console's badge), never a stop: stopping the syncs of
// a batch whose MX records were switched a while ago would leave behind
// the mail that still reaches the old server.
func (s *Service) markStale(b *Batch, at time.Time) {
	if b.State != BatchSynced && b.State != BatchSyncedWithErrors {
		return
	}
	if at.Sub(b.LastAction) > s.cfg.StaleAfter {
		since := b.LastAction
		b.Stale, b.StaleSince = true, &since
	}
}
