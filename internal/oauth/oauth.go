// Package oauth gets OAuth 2.0 access tokens for IMAP logins with SASL
// XOAUTH2 or OAUTHBEARER (RFC 7628), where a provider has no passwords to
// offer a migration tool:
//
//   - Office 365 / Exchange Online, app-only: the client credentials grant
//     (RFC 6749 section 4.4) with a client secret, or with a certificate
//     whose key signs a client assertion (RFC 7523 section 2.2, as the
//     Microsoft identity platform's "certificate credentials" describe it:
//     RS256 with the x5t#S256 and x5t thumbprints of the certificate). One
//     token serves every mailbox of the tenant; the mailbox is named in
//     the SASL string.
//   - Google Workspace, domain-wide delegation: a service account's JSON
//     key signs a JWT with sub = the mailbox, exchanged with the JWT bearer
//     grant (RFC 7523 section 2.1) for a token of that mailbox.
//   - Consumer accounts: the refresh token grant (RFC 6749 section 6) with a
//     refresh token per mailbox.
//
// A Source caches tokens per mailbox (or one per tenant for app-only),
// asks for a new one a margin before the old one expires, and lets one
// request per mailbox be under way at a time, so that the connections of a
// migration opening together ask the token endpoint once. Tokens and
// secrets are secret.Secret values, which print as "***"; errors quote the
// token endpoint's error and error_description and never a secret that
// was sent.
package oauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/imapmigrate/imapmigrate/internal/secret"
)

// Token is an access token and when it expires.
type Token struct {
	AccessToken secret.Secret
	// Expiry is when the token stops working, by the Source's clock.
	Expiry time.Time
	// Fresh says the token endpoint issued it during this call to Token
	// (or during a concurrent call that this one waited for), rather than
	// it coming from the cache. A server that refuses a token from the
	// cache may have expired or revoked it early: Invalidate it and ask
	// again. A fresh token that is refused is a real failure.
	Fresh bool
}

// TokenSource gives the access token to log in as user, the mailbox.
// Implementations may mint one token per user (Google's domain-wide
// delegation, refresh tokens) or share one among all users (Microsoft's
// app-only tokens). It is safe for concurrent use.
type TokenSource interface {
	Token(ctx context.Context, user string) (Token, error)
}

// Invalidator is a TokenSource with a cache: Invalidate drops tok, which
// a server refused, so that the next Token call fetches a new one. It does
// nothing when the cache has since moved on to another token.
type Invalidator interface {
	Invalidate(user string, tok Token)
}

// Provider says which grant a Config uses.
type Provider string

const (
	// Microsoft: the client credentials grant of the Microsoft identity
	// platform, app-only, with a client secret or a certificate.
	Microsoft Provider = "microsoft"
	// Google: a service account with domain-wide delegation (JWT bearer
	// grant with sub = the mailbox).
	Google Provider = "google"
	// Refresh: a refresh token per mailbox (consumer accounts).
	Refresh Provider = "refresh"
)

// ParseProvider parses "microsoft", "google" or "refresh".
func ParseProvider(s string) (Provider, error) {
	switch p := Provider(strings.ToLower(strings.TrimSpace(s))); p {
	case Microsoft, Google, Refresh:
		return p, nil
	}
	return "", fmt.Errorf("parse oauth provider %q: want microsoft, google or refresh", s)
}

// Default scopes and token endpoints.
const (
	// MicrosoftScope is the scope of an app-only token for Exchange
	// Online's IMAP (the app needs the IMAP.AccessAsApp permission and a
	// service principal with access to each mailbox).
	MicrosoftScope = "https://outlook.office365.com/.default"
	// MicrosoftTokenURL is the token endpoint of the global cloud; {tenant}
	// is replaced by Config.Tenant. Sovereign clouds have their own hosts:
	// set Config.TokenURL.
	MicrosoftTokenURL = "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"
	// GoogleScope is the scope Gmail's IMAP asks for.
	GoogleScope = "https://mail.google.com/"
	// GoogleTokenURL is used for refresh tokens when Config.TokenURL is
	// empty, and for a service account key without token_uri.
	GoogleTokenURL = "https://oauth2.googleapis.com/token"
)

// Config is what an endpoint keeps about its OAuth login, apart from the
// secrets (Secrets), so that it can be stored as JSON in the clear.
type Config struct {
	Provider Provider `json:"provider"`
	// Tenant is the Microsoft directory (tenant) ID or one of its domains.
	// Required for Microsoft unless TokenURL is set.
	Tenant string `json:"tenant,omitempty"`
	// ClientID is the application (client) ID: required for Microsoft and
	// Refresh. Google takes it from the service account key.
	ClientID string `json:"client_id,omitempty"`
	// TokenURL overrides the token endpoint: sovereign clouds
	// (login.microsoftonline.us, login.chinacloudapi.cn), another provider
	// for refresh tokens, tests. Defaults: MicrosoftTokenURL for Microsoft,
	// the key's token_uri for Google, GoogleTokenURL for Refresh.
	TokenURL string `json:"token_url,omitempty"`
	// Scope overrides the scope asked for. Defaults: MicrosoftScope for
	// Microsoft, GoogleScope for Google, none for Refresh (the refresh
	// token's own scope).
	Scope string `json:"scope,omitempty"`
	// Certificate is the PEM certificate registered with the Microsoft
	// application, whose private key is Secrets.PrivateKey: the client then
	// proves itself with a signed assertion instead of a client secret.
	// A certificate is public, so it lives here.
	Certificate string `json:"certificate,omitempty"`
}

// Secrets are the credentials of a Config, kept apart so that the service
// can encrypt them at rest.
type Secrets struct {
	// ClientSecret: Microsoft without a certificate; Refresh when the
	// client has one (Google's OAuth clients do).
	ClientSecret secret.Secret
	// PrivateKey is the PEM private key (PKCS #1 or PKCS #8, RSA) of
	// Config.Certificate, for Microsoft.
	PrivateKey secret.Secret
	// ServiceAccountKey is the content of a Google service account's JSON
	// key file.
	ServiceAccountKey secret.Secret
	// RefreshTokens maps each mailbox to its refresh token, for Refresh.
	RefreshTokens map[string]secret.Secret
}

// Options tune a Source; the zero value is ready to use.
type Options struct {
	// HTTPClient sends the token requests. Defaults to a client with a
	// 30-second timeout.
	HTTPClient *http.Client
	// Now is the clock, for tests. Defaults to time.Now.
	Now func() time.Time
	// Rotated, when set, is told of each new refresh token the token
	// endpoint sends in place of the one used (Microsoft rotates them at
	// every use), so that the caller can keep it beyond this Source: the
	// old one may stop working. Called before Token returns the access
	// token that came with it.
	Rotated func(user string, refreshToken secret.Secret)
}

// Error is a token request that failed. Its message names the grant and
// the endpoint and quotes the endpoint's error and error_description
// (RFC 6749 section 5.2), with any secret that was sent replaced by ***.
type Error struct {
	Grant  string // "client_credentials", "jwt-bearer", "refresh_token"
	URL    string // the token endpoint, without query or credentials
	Status int    // the HTTP status; 0 when no answer came
	// Code and Description are the answer's error and error_description.
	Code, Description string
	Err               error // a transport error, or what was wrong with the answer
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "oauth %s token request to %s", e.Grant, e.URL)
	if e.Status != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.Status)
	}
	if e.Code != "" {
		fmt.Fprintf(&b, ": %s", e.Code)
	}
	if e.Description != "" {
		fmt.Fprintf(&b, ": %q", e.Description)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Temporary reports whether asking again later may succeed: no answer,
// a server error, throttling (HTTP 429, temporarily_unavailable). A
// refused client, grant or scope needs the admin.
func (e *Error) Temporary() bool {
	switch {
	case e.Status == 0, e.Status >= 500, e.Status == http.StatusTooManyRequests:
		return true
	case e.Code == "temporarily_unavailable", e.Code == "server_error":
		return true
	}
	return false
}

// IsTemporary reports whether err holds a temporary *Error.
func IsTemporary(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Temporary()
}
