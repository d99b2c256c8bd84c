package service

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/imapmigrate/imapmigrate/internal/batch"
	"github.com/imapmigrate/imapmigrate/internal/imapconn"
	"github.com/imapmigrate/imapmigrate/internal/oauth"
	"github.com/imapmigrate/imapmigrate/internal/secret"
)

// OAuth 2.0 logins of an endpoint.
//
// An endpoint with OAuth logs every user in with a token (SASL
// OAUTHBEARER or XOAUTH2, see imapconn), from package oauth:
//
//   - microsoft: Office 365 app-only, the client credentials grant with a
//     client secret or a certificate. One token serves every mailbox.
//   - google: a Google Workspace service account with domain-wide
//     delegation. One token per mailbox.
//   - refresh: consumer accounts, each with its own refresh token, given
//     in the CSV's RefreshToken (source) or DestinationRefreshToken
//     (destination) column and sealed like the passwords. A provider that
//     rotates refresh tokens (Microsoft does, at every use) sends a new
//     one with each access token: it is sealed and saved in place of the
//     old one at once, so that the next pass, on any worker, uses it.
//
// The secrets (client secret, certificate key, service account key) are
// sealed in endpoints.oauth_secrets, bound to the endpoint and the column
// like its admin password, and never leave the service. Each process keeps
// one oauth.Source per endpoint (and per user for refresh tokens), which
// every worker of the process shares, so that all the connections of all
// the mailboxes through an endpoint ask the token endpoint once per token.

// CredentialsOAuth is the credentials mode of an endpoint with OAuth.
const CredentialsOAuth = "oauth"

// EndpointOAuth is an endpoint's OAuth login: package oauth's Config
// (provider, tenant, client ID, token URL, scope, certificate), and which
// of its secrets are stored. The secrets themselves are write-only (see
// EndpointSpec).
type EndpointOAuth struct {
	oauth.Config
	HasClientSecret      bool `json:"has_client_secret"`
	HasPrivateKey        bool `json:"has_private_key"`
	HasServiceAccountKey bool `json:"has_service_account_key"`
}

// oauthSecrets is what endpoints.oauth_secrets holds, as JSON, sealed.
type oauthSecrets struct {
	ClientSecret      string `json:"client_secret,omitempty"`
	PrivateKey        string `json:"private_key,omitempty"`
	ServiceAccountKey string `json:"service_account_key,omitempty"`
}

func oauthAD(name string) string { return "endpoints/" + name + "/oauth_secrets" }

// Columns of batch_users with the sealed refresh tokens, by side.
const (
	sourceRefreshColumn = "source_refresh_token"
	destRefreshColumn   = "dest_refresh_token"
)

// sealOAuth seals an endpoint's OAuth secrets; "" when it has none.
func (s *Service) sealOAuth(name string, sec oauth.Secrets) (string, error) {
	if sec.ClientSecret == "" && sec.PrivateKey == "" && sec.ServiceAccountKey == "" {
		return "", nil
	}
	plain, _ := json.Marshal(oauthSecrets{ClientSecret: sec.ClientSecret.Reveal(), PrivateKey: sec.PrivateKey.Reveal(),
		ServiceAccountKey: sec.ServiceAccountKey.Reveal()})
	return s.cfg.Key.Seal(string(plain), oauthAD(name))
}

// openOAuth opens what sealOAuth sealed.
func (s *Service) openOAuth(name, sealed string) (oauth.Secrets, error) {
	plain, err := s.cfg.Key.Open(sealed, oauthAD(name))
	if err != nil || plain == "" {
		return oauth.Secrets{}, err
	}
	var o oauthSecrets
	if err := json.Unmarshal([]byte(plain), &o); err != nil {
		return oauth.Secrets{}, fmt.Errorf("oauth secrets of endpoint %q: %w", name, err)
	}
	return oauth.Secrets{ClientSecret: secret.Secret(o.ClientSecret), PrivateKey: secret.Secret(o.PrivateKey),
		ServiceAccountKey: secret.Secret(o.ServiceAccountKey)}, nil
}

// specSecrets are the OAuth secrets of an add or an update: those given,
// else, on an update to the same provider, those stored.
func specSecrets(spec EndpointSpec, old *endpoint) oauth.Secrets {
	var sec oauth.Secrets
	if old != nil && old.OAuth != nil && spec.OAuth != nil && strings.EqualFold(string(old.OAuth.Provider), string(spec.OAuth.Provider)) {
		sec = old.oauthSecrets
	}
	for _, f := range []struct {
		given string
		to    *secret.Secret
	}{
		{spec.OAuthClientSecret, &sec.ClientSecret},
		{spec.OAuthPrivateKey, &sec.PrivateKey},
		{spec.OAuthServiceAccountKey, &sec.ServiceAccountKey},
	} {
		if f.given != "" {
			*f.to = secret.Secret(f.given)
		}
	}
	return sec
}

// checkOAuth normalizes an endpoint's OAuth settings and drops the
// secrets its provider does not use, then checks both the way the token
// source will use them (a key that does not parse, a client ID missing),
// without asking the token endpoint. It returns the problems, in
// normalize's style.
func checkOAuth(o *EndpointOAuth, sec *oauth.Secrets) []string {
	p, err := oauth.ParseProvider(string(o.Provider))
	if err != nil {
		return []string{"oauth.provider: want microsoft, google or refresh"}
	}
	o.Provider = p
	o.Tenant, o.ClientID = strings.TrimSpace(o.Tenant), strings.TrimSpace(o.ClientID)
	o.TokenURL, o.Scope = strings.TrimSpace(o.TokenURL), strings.TrimSpace(o.Scope)
	switch p {
	case oauth.Microsoft:
		sec.ServiceAccountKey = ""
		if o.Certificate == "" {
			sec.PrivateKey = ""
		} else {
			// A certificate replaces the client secret.
			sec.ClientSecret = ""
		}
	case oauth.Google:
		o.Tenant, o.ClientID, o.Certificate = "", "", ""
		sec.ClientSecret, sec.PrivateKey = "", ""
	case oauth.Refresh:
		o.Tenant, o.Certificate = "", ""
		sec.PrivateKey, sec.ServiceAccountKey = "", ""
	}
	trial := *sec
	if p == oauth.Refresh {
		// The refresh tokens are the users', from the CSV: a stand-in lets
		// oauth.New check the rest (the client ID, the token URL).
		trial.RefreshTokens = map[string]secret.Secret{"": "stand-in"}
	}
	var problems []string
	if _, err := oauth.New(o.Config, trial, oauth.Options{}); err != nil {
		problems = append(problems, "oauth: "+err.Error())
	}
	o.HasClientSecret, o.HasPrivateKey, o.HasServiceAccountKey = sec.ClientSecret != "", sec.PrivateKey != "", sec.ServiceAccountKey != ""
	return problems
}

// tokenCache holds this process's token sources by key: "endpoint/ID" or
// "user/ID/side". version is what a source was built from (the endpoint's
// settings and sealed secrets, and a user's sealed refresh token): a
// change, by this process or another, builds a new one.
type tokenCache struct {
	mu      sync.Mutex
	sources map[string]*cachedSource
}

type cachedSource struct {
	version string
	src     *oauth.Source
}

// get returns the source of key built from version, building it with
// build when there is none or its version is another.
func (c *tokenCache) get(key, version string, build func() (*oauth.Source, error)) (*oauth.Source, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cs := c.sources[key]; cs != nil && cs.version == version {
		return cs.src, nil
	}
	src, err := build()
	if err != nil {
		return nil, err
	}
	if c.sources == nil {
		c.sources = map[string]*cachedSource{}
	}
	c.sources[key] = &cachedSource{version: version, src: src}
	return src, nil
}

// moved records that the source of key is now up to date with version:
// the refresh token it rotated itself was saved.
func (c *tokenCache) moved(key, from, to string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cs := c.sources[key]; cs != nil && cs.version == from {
		cs.version = to
	}
}

// tokenSource is the token source of a login to e for user u on side
// (sideSource or sideDest): nil when e logs in with passwords. The error
// says, in words for the admin, what is missing.
func (s *Service) tokenSource(e *endpoint, u *userRow, side string) (oauth.TokenSource, error) {
	if e.OAuth == nil {
		return nil, nil
	}
	if e.OAuth.Provider != oauth.Refresh {
		src, err := s.tokens.get(fmt.Sprintf("endpoint/%d", e.ID), e.oauthVersion, func() (*oauth.Source, error) {
			return oauth.New(e.OAuth.Config, e.oauthSecrets, oauth.Options{})
		})
		if err != nil {
			return nil, fmt.Errorf("endpoint %q: %v", e.Name, err)
		}
		return src, nil
	}
	col, sealed, login, csvColumn := sourceRefreshColumn, u.sourceRefresh, u.SourceUser, "RefreshToken"
	if side == sideDest {
		col, sealed, login, csvColumn = destRefreshColumn, u.destRefresh, u.DestUser, "DestinationRefreshToken"
	}
	key := fmt.Sprintf("user/%d/%s", u.ID, side)
	version := e.oauthVersion + "\x00" + sealed
	src, err := s.tokens.get(key, version, func() (*oauth.Source, error) {
		rt, err := s.cfg.Key.Open(sealed, userAD(u.Email, col))
		if err != nil {
			return nil, fmt.Errorf("cannot read the stored %s refresh token (wrong secret key?): %v", side, err)
		}
		if rt == "" {
			return nil, fmt.Errorf("the %s endpoint %q logs in with refresh tokens, and %s has none: give the %s column in the CSV",
				side, e.Name, u.Email, csvColumn)
		}
		sec := e.oauthSecrets
		sec.RefreshTokens = map[string]secret.Secret{login: secret.Secret(rt)}
		current := version
		return oauth.New(e.OAuth.Config, sec, oauth.Options{Rotated: func(_ string, next secret.Secret) {
			if saved, err := s.saveRefreshToken(u, col, next); err != nil {
				s.log.Warn("Could not save a rotated refresh token; this process goes on with it.", "user", u.Email, "side", side, "err", err)
			} else {
				to := e.oauthVersion + "\x00" + saved
				s.tokens.moved(key, current, to)
				current = to
			}
		}})
	})
	if err != nil {
		return nil, err
	}
	return src, nil
}

// saveRefreshToken seals a user's new refresh token in col and returns
// the sealed value. It runs in a token request, which may outlive the
// pass that made it: it has its own deadline.
func (s *Service) saveRefreshToken(u *userRow, col string, rt secret.Secret) (string, error) {
	sealed, err := s.cfg.Key.Seal(rt.Reveal(), userAD(u.Email, col))
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := s.setUser(ctx, u.ID, col+" = $1", sealed); err != nil {
		return "", err
	}
	return sealed, nil
}

// sealRefreshTokens stores the refresh tokens of a CSV row, sealed, for
// the user just inserted with that address.
func (s *Service) sealRefreshTokens(ctx context.Context, tx *sql.Tx, email string, r batch.Row) error {
	if r.RefreshToken == "" && r.DestRefreshToken == "" {
		return nil
	}
	src, err := s.cfg.Key.Seal(r.RefreshToken, userAD(email, sourceRefreshColumn))
	if err != nil {
		return err
	}
	dst, err := s.cfg.Key.Seal(r.DestRefreshToken, userAD(email, destRefreshColumn))
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `UPDATE batch_users SET source_refresh_token = $1, dest_refresh_token = $2 WHERE email = $3`,
		src, dst, email)
	return err
}

// refreshProblems checks a CSV's refresh tokens against the batch's
// endpoints: an endpoint that logs in with refresh tokens needs one per
// user, and a token for an endpoint that does not is a mistake worth
// saying (it would be stored for nothing).
func refreshProblems(rows []batch.Row, src, dst *endpoint) []batch.Problem {
	var problems []batch.Problem
	for _, side := range []struct {
		e      *endpoint
		column string
		token  func(batch.Row) string
	}{
		{src, "RefreshToken", func(r batch.Row) string { return r.RefreshToken }},
		{dst, "DestinationRefreshToken", func(r batch.Row) string { return r.DestRefreshToken }},
	} {
		needs := side.e.OAuth != nil && side.e.OAuth.Provider == oauth.Refresh
		for _, r := range rows {
			switch given := side.token(r) != ""; {
			case needs && !given:
				problems = append(problems, batch.Problem{Line: r.Line, Column: side.column,
					Message: fmt.Sprintf("is empty: endpoint %q logs in with each user's OAuth refresh token", side.e.Name)})
			case !needs && given:
				problems = append(problems, batch.Problem{Line: r.Line, Column: side.column,
					Message: fmt.Sprintf("is given, but endpoint %q does not log in with refresh tokens", side.e.Name)})
			}
		}
	}
	return problems
}

// testTokens gives an endpoint test's login its token source: the
// endpoint's, or for refresh tokens one made from the token given in the
// test's password field, used once and not kept.
func (s *Service) testTokens(e *endpoint, cfg *imapconn.Config, refreshToken string) error {
	if e.OAuth == nil {
		return nil
	}
	cfg.Password = ""
	if e.OAuth.Provider != oauth.Refresh {
		src, err := s.tokenSource(e, nil, "endpoint test")
		if err != nil {
			return fmt.Errorf("test endpoint %q: %v: %w", e.Name, err, ErrInvalid)
		}
		cfg.TokenSource = src
		return nil
	}
	if refreshToken == "" {
		return fmt.Errorf("test endpoint %q: it logs in with each user's refresh token: give the user's refresh token as the password: %w", e.Name, ErrInvalid)
	}
	sec := e.oauthSecrets
	sec.RefreshTokens = map[string]secret.Secret{cfg.User: secret.Secret(refreshToken)}
	src, err := oauth.New(e.OAuth.Config, sec, oauth.Options{})
	if err != nil {
		return fmt.Errorf("test endpoint %q: %v: %w", e.Name, err, ErrInvalid)
	}
	cfg.TokenSource = src
	return nil
}

// tokenAdvice says what to check when a login with a token failed: the
// token endpoint refused the endpoint's app (its settings), or the IMAP
// server refused the token (the app's access to the mailbox). "" when
// err is neither.
func tokenAdvice(err error, side, user string) string {
	var te *oauth.Error
	if errors.As(err, &te) {
		return fmt.Sprintf("the token endpoint refused a token for %s at the %s: check the %s endpoint's OAuth settings (client ID, secret or certificate, tenant) and the app's permissions (%v)",
			user, side, side, err)
	}
	var oe *imapconn.OAuthError
	if errors.As(err, &oe) {
		return fmt.Sprintf("the %s server refused the OAuth token of %s: the app may lack access to this mailbox (for Office 365, IMAP.AccessAsApp and a service principal with access to it), or the mailbox may not exist (%v)",
			side, user, err)
	}
	return ""
}
