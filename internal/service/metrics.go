package service

import (
	"context"
	"database/sql"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/imapmigrate/imapmigrate/internal/mailsync"
)

// Metrics are the service's Prometheus figures. Labels never carry e-mail
// addresses or folder names: a scrape must not leak who is migrated, and
// per-user labels would explode the series count.
type Metrics struct {
	copied    prometheus.Counter
	bytes     prometheus.Counter
	skipped   *prometheus.CounterVec
	failed    prometheus.Counter
	passes    *prometheus.CounterVec
	throttles prometheus.Counter
	passTime  prometheus.Histogram
	commands  *prometheus.HistogramVec
	conns     *connCollector
}

// imapCommands are the command names that get their own latency series;
// anything else a server is sent is counted as "other".
var imapCommands = map[string]bool{
	"LOGIN": true, "AUTHENTICATE": true, "CAPABILITY": true, "NAMESPACE": true, "LIST": true, "STATUS": true,
	"EXAMINE": true, "SELECT": true, "CREATE": true, "SUBSCRIBE": true, "UID FETCH": true, "FETCH": true,
	"UID SEARCH": true, "UID STORE": true, "APPEND": true, "LOGOUT": true, "NOOP": true, "ENABLE": true,
}

// NewMetrics registers the service's metrics with reg. db feeds the
// mailboxes-by-state gauge, read at each scrape.
func NewMetrics(reg prometheus.Registerer, db *sql.DB) *Metrics {
	m := &Metrics{
		copied: prometheus.NewCounter(prometheus.CounterOpts{Name: "imapmigrate_messages_copied_total",
			Help: "Messages copied to destinations."}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "imapmigrate_bytes_copied_total",
			Help: "Bytes of messages copied to destinations."}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "imapmigrate_items_skipped_total",
			Help: "Items skipped, by reason, counted at each pass that skipped them."}, []string{"reason"}),
		failed: prometheus.NewCounter(prometheus.CounterOpts{Name: "imapmigrate_items_failed_total",
			Help: "Items that failed in a pass."}),
		passes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "imapmigrate_passes_total",
			Help: "Mailbox passes finished, by outcome (ok, errors, interrupted)."}, []string{"outcome"}),
		throttles: prometheus.NewCounter(prometheus.CounterOpts{Name: "imapmigrate_throttle_events_total",
			Help: "Answers from a server that asked to slow down ([LIMIT], [UNAVAILABLE], [INUSE])."}),
		passTime: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "imapmigrate_pass_duration_seconds",
			Help: "Duration of finished mailbox passes.", Buckets: prometheus.ExponentialBuckets(0.1, 4, 10)}),
		commands: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "imapmigrate_imap_command_seconds",
			Help:    "Time from an IMAP command to its tagged reply, by side (source, destination) and command.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10)}, []string{"side", "command"}),
	}
	m.conns = &connCollector{db: db, desc: prometheus.NewDesc("imapmigrate_endpoint_connections",
		"Connections per mailbox opened to an endpoint now, by endpoint name and side (source, destination): "+
			"the configured count, lowered while the server throttles.", []string{"endpoint", "side"}, nil)}
	m.conns.configured.Store(mailsync.DefaultConnections)
	reg.MustRegister(m.copied, m.bytes, m.skipped, m.failed, m.passes, m.throttles, m.passTime, m.commands,
		&stateCollector{db: db, desc: prometheus.NewDesc("imapmigrate_mailboxes",
			"Migration users (mailboxes) by status.", []string{"status"}, nil)}, m.conns)
	return m
}

// configure tells the metrics the service's configured connection count,
// which the endpoints' stored 0 stands for.
func (m *Metrics) configure(connections int) {
	if m != nil {
		m.conns.configured.Store(int64(connections))
	}
}

// observe counts a pass: rep is nil when it did not finish (cut by its
// slice, stopped, or failed), copied is what the state gained meanwhile.
func (m *Metrics) observe(rep *mailsync.Report, copied int64, p *progress) {
	if m == nil {
		return
	}
	m.copied.Add(float64(max(copied, 0)))
	m.bytes.Add(float64(p.bytes()))
	if rep == nil {
		m.passes.WithLabelValues("interrupted").Inc()
		return
	}
	outcome := "ok"
	if !rep.OK() {
		outcome = "errors"
	}
	m.passes.WithLabelValues(outcome).Inc()
	m.failed.Add(float64(rep.Totals.Failed))
	for reason, n := range rep.Totals.Skipped {
		m.skipped.WithLabelValues(reason).Add(float64(n))
	}
	m.passTime.Observe(rep.Finished.Sub(rep.Started).Seconds())
}

// observer returns an imapconn.Config.Observe for one side.
func (m *Metrics) observer(side string) func(string, time.Duration) {
	if m == nil {
		return nil
	}
	return func(command string, d time.Duration) {
		if !imapCommands[command] {
			command = "other"
		}
		m.commands.WithLabelValues(side, command).Observe(d.Seconds())
	}
}

func (m *Metrics) throttled() {
	if m != nil {
		m.throttles.Inc()
	}
}

// stateCollector reads the users by status from the database at scrape
// time, so that every worker's and the server's view agree.
type stateCollector struct {
	db   *sql.DB
	desc *prometheus.Desc
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	counts := map[string]float64{}
	for _, st := range []string{UserQueued, UserValidating, UserSyncing, UserSynced, UserIncrementalSyncing,
		UserCompleting, UserCompleted, UserFailed, UserStopped, UserBlocked} {
		counts[st] = 0
	}
	rows, err := c.db.QueryContext(ctx, `SELECT status, count(*) FROM batch_users GROUP BY status`)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, err)
		return
	}
	defer rows.Close()
	for rows.Next() {
		var st string
		var n float64
		if err := rows.Scan(&st, &n); err != nil {
			ch <- prometheus.NewInvalidMetric(c.desc, err)
			return
		}
		counts[st] = n
	}
	for st, n := range counts {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, n, st)
	}
}

// connCollector reads the endpoints' adaptive connection counts from the
// database at scrape time: every worker lowers and raises them there.
// Endpoint names are the admin's own labels, few and not personal.
type connCollector struct {
	db         *sql.DB
	desc       *prometheus.Desc
	configured atomic.Int64
}

func (c *connCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *connCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rows, err := c.db.QueryContext(ctx, `SELECT name, source_connections, dest_connections FROM endpoints`)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, err)
		return
	}
	defer rows.Close()
	configured := int(c.configured.Load())
	for rows.Next() {
		var name string
		var src, dst int
		if err := rows.Scan(&name, &src, &dst); err != nil {
			ch <- prometheus.NewInvalidMetric(c.desc, err)
			return
		}
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(effectiveConnections(src, configured)), name, sideSource)
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(effectiveConnections(dst, configured)), name, sideDest)
	}
}
