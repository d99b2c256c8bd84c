package cli

import (
	"time"

	"github.com/spf13/pflag"

	"github.com/imapmigrate/imapmigrate/internal/service"
)

// scheduleFlags are batch create's --start-after, --complete-after and
// --timezone.
type scheduleFlags struct {
	startAfter, completeAfter, zone string
}

func (sf *scheduleFlags) register(f *pflag.FlagSet) {
	f.StringVar(&sf.startAfter, "start-after", "", `once started, wait until this time before migrating anything ("2026-12-01 22:00" or RFC 3339)`)
	f.StringVar(&sf.completeAfter, "complete-after", "", `complete the batch at this time once it is synced ("2026-12-01 18:00" or RFC 3339)`)
	f.StringVar(&sf.zone, "timezone", "", "IANA time zone (Europe/Paris) of --start-after and --complete-after, which the batch's times are then shown in (default: read in this machine's zone, shown in UTC)")
}

// apply reads the flags into o: times without an offset are in --timezone,
// else in this machine's zone.
func (sf *scheduleFlags) apply(o *service.BatchOptions) error {
	loc := time.Local
	if sf.zone != "" {
		l, err := service.LoadZone(sf.zone)
		if err != nil {
			return exitf(ExitUsage, "--timezone: %v", err)
		}
		loc, o.TimeZone = l, sf.zone
	}
	var err error
	if o.StartAfter, err = service.ParseWhen(sf.startAfter, loc); err != nil {
		return exitf(ExitUsage, "--start-after: %v", err)
	}
	if o.CompleteAfter, err = service.ParseWhen(sf.completeAfter, loc); err != nil {
		return exitf(ExitUsage, "--complete-after: %v", err)
	}
	if o.StartAfter != nil && o.CompleteAfter != nil && o.CompleteAfter.Before(*o.StartAfter) {
		return exitf(ExitUsage, "--complete-after is before --start-after")
	}
	return nil
}

// formatIn shows one of the batch's times in the batch's time zone, with
// the zone's abbreviation, since the batch's zone may not be the reader's.
func formatIn(t *time.Time, o service.BatchOptions) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.In(o.Zone()).Format("2006-01-02 15:04 MST")
}

// staleDays is how many whole days have passed since the batch's last
// action.
func staleDays(since time.Time) int { return int(time.Since(since) / (24 * time.Hour)) }
