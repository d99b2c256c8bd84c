package service

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/imapmigrate/imapmigrate/internal/imapconn"
	"github.com/imapmigrate/imapmigrate/internal/oauth"
	"github.com/imapmigrate/imapmigrate/internal/provider"
)

// Endpoint defaults, as in Exchange Online.
const (
	DefaultMaxConcurrentMigrations       = 20
	DefaultMaxConcurrentIncrementalSyncs = 10
)

// Credential modes and admin login formats of an endpoint.
const (
	CredentialsPerUser = "per_user"
	CredentialsAdmin   = "admin"

	AdminAuthzid  = "authzid"
	AdminDovecot  = "dovecot"
	AdminExchange = "exchange"
	AdminTemplate = "template"
)

// endpoint is an endpoint as the workers use it, secrets opened, its
// server, admin format and caps the effective ones (see resolve).
type endpoint struct {
	ID int64
	Endpoint
	adminPassword string
	// srcConns and dstConns are the stored connection counts per side
	// (endpoints.source_connections, dest_connections): 0 means not
	// lowered; see effectiveConnections.
	srcConns, dstConns int
	// public is the endpoint as the admin set it, with Effective: what
	// the API shows.
	public Endpoint
	// prof is the provider profile with the endpoint's settings merged.
	prof provider.Profile
	// oauthSecrets are the OAuth secrets opened; oauthVersion names what
	// the token source is built from (see tokenCache).
	oauthSecrets oauth.Secrets
	oauthVersion string
}

// normalize fills defaults and checks an endpoint spec. A server named
// here gets the port and security its port implies, as always; without
// one, the profile's server is used, and the profile's figures fill what
// is left at zero (see resolve). secrets are the endpoint's OAuth
// secrets, which checkOAuth trims to what the provider uses.
func normalize(e *Endpoint, hasAdminPassword bool, secrets *oauth.Secrets) error {
	var problems []string
	e.Name = strings.TrimSpace(e.Name)
	if e.Name == "" || strings.ContainsAny(e.Name, "/ \t") {
		problems = append(problems, "name: required, without spaces or slashes")
	}
	e.Effective = nil
	prof, err := provider.Lookup(strings.TrimSpace(e.Profile))
	switch {
	case err != nil:
		problems = append(problems, "profile: "+err.Error())
	case prof.Name == "generic":
		e.Profile = ""
	default:
		e.Profile = prof.Name
	}
	e.Host = strings.TrimSpace(e.Host)
	if e.Host == "" && prof.Host == "" {
		problems = append(problems, "host: required")
	}
	sec, err := imapconn.ParseSecurity(e.Security)
	if err != nil {
		problems = append(problems, "security: want tls, starttls or none")
	}
	if e.Host != "" {
		if e.Port == 0 {
			e.Port = 143
			if sec == imapconn.SecurityTLS {
				e.Port = 993
			}
		}
		if sec == "" {
			sec = imapconn.SecurityStartTLS
			if e.Port == 993 {
				sec = imapconn.SecurityTLS
			}
		}
	}
	if e.Port < 0 || e.Port > 65535 {
		problems = append(problems, "port: out of range")
	}
	e.Security = string(sec)
	if e.AuthMechanism == "" {
		e.AuthMechanism = "auto"
	}
	mechanisms := []string{"auto", "plain", "login"}
	if e.OAuth != nil {
		mechanisms = []string{"auto", "xoauth2", "oauthbearer"}
		e.Credentials = CredentialsOAuth
	}
	if !slices.Contains(mechanisms, e.AuthMechanism) {
		problems = append(problems, "auth_mechanism: want "+strings.Join(mechanisms, ", "))
	}
	if e.Credentials == "" {
		e.Credentials = CredentialsPerUser
	}
	switch e.Credentials {
	case CredentialsPerUser, CredentialsOAuth:
		e.AdminFormat, e.AdminTemplate, e.AdminUser, e.AdminDomain = "", "", "", ""
		if e.OAuth == nil && e.Credentials == CredentialsOAuth {
			problems = append(problems, "oauth: required with credentials oauth")
		}
	case CredentialsAdmin:
		if e.AdminFormat == "" && prof.AdminFormat == "" {
			if prof.Name != "generic" {
				problems = append(problems, fmt.Sprintf("credentials: %s offers no admin login over IMAP; log in per user (or with OAuth)", prof.Name))
			}
			e.AdminFormat = AdminAuthzid
		}
		if e.AdminUser == "" {
			problems = append(problems, "admin_user: required with admin credentials")
		}
		if !hasAdminPassword {
			problems = append(problems, "admin_password: required with admin credentials")
		}
		switch cmp.Or(e.AdminFormat, prof.AdminFormat) {
		case AdminAuthzid, AdminDovecot:
		case AdminExchange:
			if e.AdminDomain == "" {
				problems = append(problems, "admin_domain: required with the exchange admin format (Domain/Admin/User)")
			}
		case AdminTemplate:
			if !strings.Contains(e.AdminTemplate, "{user}") {
				problems = append(problems, "admin_template: must contain {user}, e.g. {user}*{admin}")
			}
		default:
			problems = append(problems, "admin_format: want authzid, dovecot, exchange or template")
		}
	default:
		problems = append(problems, "credentials: want per_user, admin or oauth")
	}
	if e.OAuth != nil {
		problems = append(problems, checkOAuth(e.OAuth, secrets)...)
	} else {
		*secrets = oauth.Secrets{}
	}
	if e.Profile == "" {
		// The generic defaults are stored, as they always were; a profile's
		// are left to resolve, so that they follow the profile.
		if e.MaxConcurrentMigrations == 0 {
			e.MaxConcurrentMigrations = DefaultMaxConcurrentMigrations
		}
		if e.MaxConcurrentIncrementalSyncs == 0 {
			e.MaxConcurrentIncrementalSyncs = min(DefaultMaxConcurrentIncrementalSyncs, e.MaxConcurrentMigrations)
		}
	}
	if e.MaxConcurrentMigrations < 0 || e.MaxConcurrentIncrementalSyncs < 0 {
		problems = append(problems, "max_concurrent_migrations and max_concurrent_incremental_syncs: at least 1 (0 for the default)")
	}
	if e.MaxMessageSize < 0 {
		problems = append(problems, "max_message_size: cannot be negative")
	}
	if p, err := e.merged(); err == nil && len(problems) == 0 {
		eff := e.settings(p)
		if eff.MaxConcurrentIncrementalSyncs > eff.MaxConcurrentMigrations {
			problems = append(problems, "max_concurrent_incremental_syncs: cannot exceed max_concurrent_migrations")
		}
		sec = imapconn.Security(eff.Security)
	}
	if e.CertSHA256 = strings.TrimSpace(e.CertSHA256); e.CertSHA256 != "" {
		if _, err := imapconn.ParsePin(e.CertSHA256); err != nil {
			problems = append(problems, "cert_sha256: want a SHA-256 fingerprint, 64 hex digits (colons allowed)")
		}
		if e.InsecureSkipVerify || e.CAFile != "" {
			problems = append(problems, "cert_sha256: not together with insecure_skip_verify or ca_file")
		}
		if sec == imapconn.SecurityNone {
			problems = append(problems, "cert_sha256: needs security tls or starttls")
		}
	}
	e.HasAdminPassword = hasAdminPassword && e.Credentials == CredentialsAdmin
	// Measured by the service, kept in their own columns: never stored
	// with the settings, nor set by the admin.
	e.SourceConnections, e.DestConnections = 0, 0
	if len(problems) > 0 {
		return fmt.Errorf("endpoint %q: %s: %w", e.Name, strings.Join(problems, "; "), ErrInvalid)
	}
	return nil
}

func endpointAD(name string) string { return "endpoints/" + name + "/admin_password" }

// AddEndpoint stores a new endpoint.
func (s *Service) AddEndpoint(ctx context.Context, spec EndpointSpec) (*Endpoint, error) {
	e := spec.Endpoint
	secrets := specSecrets(spec, nil)
	if err := normalize(&e, spec.AdminPassword != "", &secrets); err != nil {
		return nil, err
	}
	e.Created = time.Now().UTC().Truncate(time.Millisecond)
	if e.Credentials != CredentialsAdmin {
		spec.AdminPassword = ""
	}
	sealed, err := s.cfg.Key.Seal(spec.AdminPassword, endpointAD(e.Name))
	if err != nil {
		return nil, fmt.Errorf("add endpoint %q: %w", e.Name, err)
	}
	sealedOAuth, err := s.sealOAuth(e.Name, secrets)
	if err != nil {
		return nil, fmt.Errorf("add endpoint %q: %w", e.Name, err)
	}
	settings, _ := json.Marshal(e)
	_, err = s.db.ExecContext(ctx,
		`INSERT INTO endpoints (name, settings, admin_password, oauth_secrets, created_at) VALUES ($1, $2, $3, $4, $5)`,
		e.Name, string(settings), sealed, sealedOAuth, e.Created.UnixMilli())
	if isUniqueViolation(err) {
		return nil, fmt.Errorf("add endpoint %q: an endpoint of that name exists: %w", e.Name, ErrConflict)
	}
	if err != nil {
		return nil, fmt.Errorf("add endpoint %q: %w", e.Name, err)
	}
	return s.Endpoint(ctx, e.Name)
}

// UpdateEndpoint changes an endpoint. An empty AdminPassword keeps the
// stored one, and so do empty OAuth secrets while the OAuth provider stays
// the same. Running jobs pick the change up at their next slice.
func (s *Service) UpdateEndpoint(ctx context.Context, name string, spec EndpointSpec) (*Endpoint, error) {
	old, err := s.endpointByName(ctx, name)
	if err != nil {
		return nil, err
	}
	e := spec.Endpoint
	e.Name = old.Name
	e.Created = old.Created
	password := spec.AdminPassword
	if password == "" {
		password = old.adminPassword
	}
	secrets := specSecrets(spec, old)
	if err := normalize(&e, password != "", &secrets); err != nil {
		return nil, err
	}
	if e.Credentials != CredentialsAdmin {
		password = ""
	}
	sealed, err := s.cfg.Key.Seal(password, endpointAD(e.Name))
	if err != nil {
		return nil, fmt.Errorf("update endpoint %q: %w", name, err)
	}
	sealedOAuth, err := s.sealOAuth(e.Name, secrets)
	if err != nil {
		return nil, fmt.Errorf("update endpoint %q: %w", name, err)
	}
	settings, _ := json.Marshal(e)
	if _, err := s.db.ExecContext(ctx, `UPDATE endpoints SET settings = $1, admin_password = $2, oauth_secrets = $3 WHERE id = $4`,
		string(settings), sealed, sealedOAuth, old.ID); err != nil {
		return nil, fmt.Errorf("update endpoint %q: %w", name, err)
	}
	return s.Endpoint(ctx, name)
}

// Endpoints lists the endpoints by name.
func (s *Service) Endpoints(ctx context.Context) ([]Endpoint, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT settings, source_connections, dest_connections FROM endpoints ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list endpoints: %w", err)
	}
	defer rows.Close()
	out := []Endpoint{}
	for rows.Next() {
		var settings string
		var e endpoint
		if err := rows.Scan(&settings, &e.srcConns, &e.dstConns); err != nil {
			return nil, fmt.Errorf("list endpoints: %w", err)
		}
		if err := json.Unmarshal([]byte(settings), &e.Endpoint); err != nil {
			return nil, fmt.Errorf("list endpoints: %w", err)
		}
		if err := s.ready(&e); err != nil {
			return nil, fmt.Errorf("list endpoints: %w", err)
		}
		out = append(out, e.public)
	}
	return out, rows.Err()
}

// Endpoint returns one endpoint, as set and in effect.
func (s *Service) Endpoint(ctx context.Context, name string) (*Endpoint, error) {
	e, err := s.endpointByName(ctx, name)
	if err != nil {
		return nil, err
	}
	return &e.public, nil
}

// ready resolves an endpoint read from the database (see resolve) and
// sets the connections it shows: the adaptive counts, within the
// profile's connections per mailbox.
func (s *Service) ready(e *endpoint) error {
	if err := e.resolve(); err != nil {
		return err
	}
	perMailbox := e.public.Effective.ConnectionsPerMailbox
	e.SourceConnections = min(effectiveConnections(e.srcConns, s.cfg.Connections), perMailbox)
	e.DestConnections = min(effectiveConnections(e.dstConns, s.cfg.Connections), perMailbox)
	e.public.SourceConnections, e.public.DestConnections = e.SourceConnections, e.DestConnections
	return nil
}

// RemoveEndpoint removes an endpoint that no batch uses.
func (s *Service) RemoveEndpoint(ctx context.Context, name string) error {
	e, err := s.endpointByName(ctx, name)
	if err != nil {
		return err
	}
	var batches []string
	rows, err := s.db.QueryContext(ctx,
		`SELECT name FROM batches WHERE source_endpoint_id = $1 OR dest_endpoint_id = $1 ORDER BY name`, e.ID)
	if err != nil {
		return fmt.Errorf("remove endpoint %q: %w", name, err)
	}
	for rows.Next() {
		var b string
		if err := rows.Scan(&b); err != nil {
			rows.Close()
			return fmt.Errorf("remove endpoint %q: %w", name, err)
		}
		batches = append(batches, b)
	}
	rows.Close()
	if len(batches) > 0 {
		return fmt.Errorf("remove endpoint %q: used by batch %s; remove the batch first: %w",
			name, strings.Join(batches, ", "), ErrConflict)
	}
	if _, err := s.db.ExecContext(ctx, `DELETE FROM endpoints WHERE id = $1`, e.ID); err != nil {
		return fmt.Errorf("remove endpoint %q: %w", name, err)
	}
	return nil
}

func (s *Service) endpointByName(ctx context.Context, name string) (*endpoint, error) {
	return s.scanEndpoint(s.db.QueryRowContext(ctx,
		`SELECT id, settings, admin_password, oauth_secrets, source_connections, dest_connections FROM endpoints WHERE name = $1`, name), name)
}

func (s *Service) endpointByID(ctx context.Context, id int64) (*endpoint, error) {
	return s.scanEndpoint(s.db.QueryRowContext(ctx,
		`SELECT id, settings, admin_password, oauth_secrets, source_connections, dest_connections FROM endpoints WHERE id = $1`, id), fmt.Sprint(id))
}

func (s *Service) scanEndpoint(row *sql.Row, name string) (*endpoint, error) {
	var e endpoint
	var settings, sealed, sealedOAuth string
	err := row.Scan(&e.ID, &settings, &sealed, &sealedOAuth, &e.srcConns, &e.dstConns)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("endpoint %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read endpoint %q: %w", name, err)
	}
	if err := json.Unmarshal([]byte(settings), &e.Endpoint); err != nil {
		return nil, fmt.Errorf("read endpoint %q: %w", name, err)
	}
	if e.adminPassword, err = s.cfg.Key.Open(sealed, endpointAD(e.Name)); err != nil {
		return nil, fmt.Errorf("read admin password of endpoint %q (wrong secret key?): %w", e.Name, err)
	}
	if e.oauthSecrets, err = s.openOAuth(e.Name, sealedOAuth); err != nil {
		return nil, fmt.Errorf("read oauth secrets of endpoint %q (wrong secret key?): %w", e.Name, err)
	}
	e.oauthVersion = settings + "\x00" + sealedOAuth
	if err := s.ready(&e); err != nil {
		return nil, fmt.Errorf("read endpoint %q: %w", name, err)
	}
	return &e, nil
}

// login says how to log in to this endpoint for user: with the user's own
// password, or with the admin's credentials in the endpoint's format.
func (e *endpoint) login(user, password string) imapconn.Config {
	cfg := imapconn.Config{
		Addr:               net.JoinHostPort(e.Host, strconv.Itoa(e.Port)),
		Security:           imapconn.Security(e.Security),
		CAFile:             e.CAFile,
		InsecureSkipVerify: e.InsecureSkipVerify,
		PinSHA256:          e.CertSHA256,
		User:               user,
		Password:           password,
	}
	if e.AuthMechanism != "auto" {
		cfg.Mechanism = e.AuthMechanism
	}
	if e.Credentials != CredentialsAdmin {
		return cfg
	}
	cfg.Password = e.adminPassword
	switch e.AdminFormat {
	case AdminAuthzid:
		cfg.AuthUser = e.AdminUser
	case AdminDovecot:
		cfg.User = user + "*" + e.AdminUser
	case AdminExchange:
		cfg.User = e.AdminDomain + "/" + e.AdminUser + "/" + user
	case AdminTemplate:
		cfg.User = strings.NewReplacer("{user}", user, "{admin}", e.AdminUser, "{domain}", e.AdminDomain).Replace(e.AdminTemplate)
	}
	return cfg
}

// TestEndpoint logs in as user (with password, or with the endpoint's
// admin credentials) and reports what the server offers.
// A refused login or an unreachable server is ErrRemote, in the server's
// words.
func (s *Service) TestEndpoint(ctx context.Context, name, user, password string) (*EndpointTest, error) {
	e, err := s.endpointByName(ctx, name)
	if err != nil {
		return nil, err
	}
	// A mailbox to act on is needed either way: an admin login (a
	// Dovecot master user, say) often has no mailbox of its own.
	if user == "" {
		how := "a user and password"
		switch e.Credentials {
		case CredentialsAdmin:
			how = "a user to log in for with the admin credentials"
		case CredentialsOAuth:
			how = "a user (a mailbox) to get a token for"
		}
		return nil, fmt.Errorf("test endpoint %q: give %s: %w", name, how, ErrInvalid)
	}
	cfg := e.login(user, password)
	if err := s.testTokens(e, &cfg, password); err != nil {
		return nil, err
	}
	cfg.ReadOnly = true
	cfg.Side = "endpoint " + name
	s.traced(&cfg, s.log.With("endpoint", name, "user", user), "endpoint test")
	return probe(ctx, cfg, name, user)
}

// probe logs in and reads capabilities, namespaces and the folder list.
// Its errors are ErrRemote, with the server's words, unless ctx ended
// (the caller went away: not the server's doing).
func probe(ctx context.Context, cfg imapconn.Config, name, user string) (*EndpointTest, error) {
	fail := func(op string, err error) error {
		if ctx.Err() == nil {
			err = &remoteError{err}
		}
		return fmt.Errorf("test endpoint %q: %s%w", name, op, err)
	}
	start := time.Now()
	c, err := imapconn.Dial(ctx, cfg)
	if err != nil {
		return nil, fail("", err) // an *imapconn.Error names side, address and user
	}
	defer c.Close()
	at := fmt.Sprintf(" at %s for %s: ", cfg.Addr, cfg.User)
	t := &EndpointTest{Endpoint: name, User: user, Capabilities: []string{}, Namespaces: []Namespace{}}
	for capa := range c.Caps() {
		t.Capabilities = append(t.Capabilities, string(capa))
	}
	slices.Sort(t.Capabilities)
	if c.Caps().Has(imap.CapNamespace) {
		ns, err := c.Namespace().Wait()
		if err != nil {
			return nil, fail("namespace"+at, err)
		}
		add := func(kind string, list []imap.NamespaceDescriptor) {
			for _, d := range list {
				t.Namespaces = append(t.Namespaces, Namespace{Kind: kind, Prefix: d.Prefix, Separator: delim(d.Delim)})
			}
		}
		add("personal", ns.Personal)
		add("other", ns.Other)
		add("shared", ns.Shared)
	}
	list, err := c.List("", "*", nil).Collect()
	if err != nil {
		return nil, fail("list folders"+at, err)
	}
	t.Folders = len(list)
	for _, m := range list {
		if m.Delim != 0 {
			t.Separator = delim(m.Delim)
			break
		}
	}
	t.Elapsed = time.Since(start).Seconds()
	return t, nil
}

func delim(r rune) string {
	if r == 0 {
		return ""
	}
	return string(r)
}

// isUniqueViolation recognises a UNIQUE constraint failure on both
// databases, without importing their drivers' error types.
func isUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "UNIQUE constraint failed") || strings.Contains(msg, "SQLSTATE 23505")
}

// Sides of a mailbox migration, as imapconn.Error.Side names them.
const (
	sideSource = "source"
	sideDest   = "destination"
)

// Adaptive connections. A server that throttles ([LIMIT], [UNAVAILABLE],
// [INUSE], Gmail's "Too many simultaneous connections", Office 365's
// "Request is throttled", Exchange's "Server Unavailable"; see package
// throttle) gets fewer connections per mailbox from then on, per endpoint
// and side, in the endpoints table so that every worker shares the count
// and a restart keeps it:
//
//   - At a throttling answer, the count is halved from what the pass
//     started with (at least 1). The answers of one pass count once:
//     several connections refused together are one answer to one count,
//     and two passes that met the same limit at once halve it once.
//   - After RecoverPasses passes (or job slices) through the endpoint
//     without one on that side, one connection is won back, up to
//     Config.Connections; the calm count starts again at each change.
//     Passes of any mailbox count: the limit is the server's. A pass that
//     opened fewer lanes than the count (an incremental one opens one)
//     still counts: winning one back is how the service probes again.
//
// It mirrors TCP's additive increase, multiplicative decrease: backing off
// fast costs a little speed, coming back slowly keeps from tripping the
// limit over and over.

// effectiveConnections is the count a stored value stands for: 0 (not
// lowered) and anything above configured mean configured.
func effectiveConnections(stored, configured int) int {
	if stored <= 0 || stored > configured {
		return configured
	}
	return stored
}

// adjustConnections is the rule above for one endpoint side after a pass:
// cur is the count now, started the count the pass began with, calm the
// throttle-free passes since the last change. It returns the new count
// and calm count.
func adjustConnections(cur, started, configured, calm, recoverAfter int, throttled bool) (next, nextCalm int) {
	cur = effectiveConnections(cur, configured)
	if throttled {
		return min(cur, max(1, started/2)), 0
	}
	if cur >= configured {
		return configured, 0
	}
	if calm+1 >= recoverAfter {
		return cur + 1, 0
	}
	return cur, calm + 1
}

// passConnections is the connection count for a pass from src to dst: the
// lower of the source's count as a source and the destination's as a
// destination (each within its profile's connections per mailbox: see
// ready), since each copy lane holds one connection at each.
func (s *Service) passConnections(src, dst *endpoint) int {
	return min(src.SourceConnections, dst.DestConnections)
}

// throttles collects the first throttling answer of a pass on each side,
// from the engine's goroutines (mailsync.Options.Refused) and from the
// pass's own error.
type throttles struct {
	mu sync.Mutex
	by map[string]string // side → the answer, for the log
}

// note records err when it is a throttling answer, and says whether it
// was. An error that names no side (a command's NO, not a login's) is
// put on both sides.
func (t *throttles) note(side string, err error) bool {
	if err == nil || !throttled(err) {
		return false
	}
	var ce *imapconn.Error
	if errors.As(err, &ce) && ce.Side != "" {
		side = ce.Side
	}
	if side == "" {
		t.add(sideSource, err.Error())
		t.add(sideDest, err.Error())
	} else {
		t.add(side, err.Error())
	}
	return true
}

func (t *throttles) add(side, reason string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.by == nil {
		t.by = map[string]string{}
	}
	if _, ok := t.by[side]; !ok {
		t.by[side] = reason
	}
}

func (t *throttles) reason(side string) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.by[side]
}

// adapt applies adjustConnections to both endpoints of a pass that ran
// with started connections: down on a side that throttled; on a side that
// did not, one calm pass more when calm says the pass counts (it finished,
// or ran its whole slice). A failure is logged: the counts are advice, and
// the pass's outcome matters more.
func (s *Service) adapt(ctx context.Context, src, dst *endpoint, started int, t *throttles, calm bool) {
	ctx = context.WithoutCancel(ctx)
	for _, side := range []struct {
		e                 *endpoint
		name, conns, calm string
	}{
		{src, sideSource, "source_connections", "source_calm"},
		{dst, sideDest, "dest_connections", "dest_calm"},
	} {
		reason := t.reason(side.name)
		if reason == "" && !calm {
			continue
		}
		var from, to int
		err := s.inTx(ctx, func(tx *sql.Tx) error {
			q := `SELECT ` + side.conns + `, ` + side.calm + ` FROM endpoints WHERE id = $1`
			if s.pg {
				q += ` FOR UPDATE`
			}
			var stored, calmPasses int
			if err := tx.QueryRowContext(ctx, q, side.e.ID).Scan(&stored, &calmPasses); err != nil {
				return err
			}
			if stored == 0 && reason == "" {
				return nil // not lowered: nothing to win back
			}
			from = effectiveConnections(stored, s.cfg.Connections)
			var nextCalm int
			to, nextCalm = adjustConnections(from, started, s.cfg.Connections, calmPasses, s.cfg.RecoverPasses, reason != "")
			store := to
			if store >= s.cfg.Connections {
				store = 0
			}
			_, err := tx.ExecContext(ctx, `UPDATE endpoints SET `+side.conns+` = $1, `+side.calm+` = $2 WHERE id = $3`,
				store, nextCalm, side.e.ID)
			return err
		})
		switch {
		case err != nil:
			s.log.Warn("Could not record the connection count of an endpoint.", "endpoint", side.e.Name, "side", side.name, "err", err)
		case to < from:
			s.log.Warn("Fewer connections per mailbox to a server that throttles.", "endpoint", side.e.Name, "side", side.name,
				"from", from, "to", to, "reason", reason)
		case to > from:
			s.log.Info("One more connection per mailbox to a server that stopped throttling.", "endpoint", side.e.Name,
				"side", side.name, "from", from, "to", to, "reason", fmt.Sprintf("passes without throttling: %d", s.cfg.RecoverPasses))
		}
	}
}
