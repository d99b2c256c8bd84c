package imapconn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-sasl"

	"github.com/imapmigrate/imapmigrate/internal/oauth"
)

// OAuth 2.0 logins (Config.TokenSource).
//
// Two SASL mechanisms carry a bearer token: OAUTHBEARER (RFC 7628), the
// standard, and XOAUTH2, Google's and Microsoft's older one, which Office
// 365 and Gmail offer. Both send the token in the initial response and,
// when the token is refused, get a JSON error as a challenge (RFC 7628
// section 3.2.2: {"status":"401","schemes":"bearer","scope":"mail"} from
// Dovecot for XOAUTH2, {"status":"invalid_token"} for OAUTHBEARER), which
// the client answers to end the exchange before the tagged NO comes.
//
// That answer is %x01, RFC 7628 section 3.2.3's dummy response, for XOAUTH2
// too, where Google and Microsoft document an empty response: go-imap
// sends an empty response as "=", which Dovecot refuses as invalid base64
// with a BAD and hangs up on (STACK.md catch 7). Measured on Dovecot 2.3:
// after %x01 both mechanisms answer NO [AUTHENTICATIONFAILED] and the
// connection stays open for another try.

const mechXOAUTH2 = "XOAUTH2"

// maxChallenge bounds the server's JSON error quoted in an OAuthError.
const maxChallenge = 300

// OAuthError is a bearer token the server refused. Its message quotes the
// server's JSON error and its tagged answer, never the token.
type OAuthError struct {
	Mechanism string // "XOAUTH2" or "OAUTHBEARER"
	// Status, Schemes and Scope are the fields of the server's JSON error
	// (RFC 7628 section 3.2.2); "" when it sent none or not as JSON.
	Status, Schemes, Scope string
	// Challenge is the JSON error as the server sent it, made printable and
	// cut to 300 bytes.
	Challenge string
	// Err is the tagged answer, usually *imap.Error NO [AUTHENTICATIONFAILED].
	Err error
}

func (e *OAuthError) Error() string {
	s := e.Mechanism + " token refused"
	if e.Challenge != "" {
		s += ": server said " + e.Challenge
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *OAuthError) Unwrap() error { return e.Err }

// bearerClient is the SASL client of one login with a token: OAUTHBEARER
// through go-sasl, or XOAUTH2, which go-sasl does not have. Next keeps the
// server's error challenge.
type bearerClient struct {
	mech        string
	user, token string
	host        string
	port        int
	challenge   []byte
}

func (b *bearerClient) Start() (string, []byte, error) {
	if b.mech == sasl.OAuthBearer {
		return sasl.NewOAuthBearerClient(&sasl.OAuthBearerOptions{
			Username: b.user, Token: b.token, Host: b.host, Port: b.port,
		}).Start()
	}
	return mechXOAUTH2, []byte("user=" + b.user + "\x01auth=Bearer " + b.token + "\x01\x01"), nil
}

// Next is only ever called with the error challenge: success needs no
// second step in either mechanism.
func (b *bearerClient) Next(challenge []byte) ([]byte, error) {
	if b.challenge != nil {
		return nil, fmt.Errorf("%s: server sent a second challenge", b.mech)
	}
	b.challenge = append([]byte{}, challenge...)
	return []byte{0x01}, nil
}

// refusal turns err, the failed AUTHENTICATE, into an *OAuthError that
// holds the JSON error, when the server sent one.
func (b *bearerClient) refusal(err error) error {
	if b.challenge == nil {
		return err
	}
	oe := &OAuthError{Mechanism: b.mech, Challenge: printable(string(b.challenge), maxChallenge), Err: err}
	var fields struct {
		Status, Schemes, Scope string
	}
	if json.Unmarshal(b.challenge, &fields) == nil {
		oe.Status, oe.Schemes, oe.Scope = fields.Status, fields.Schemes, fields.Scope
	}
	return oe
}

// chooseBearer picks the mechanism: the one asked for, which must be
// offered, or OAUTHBEARER when offered, else XOAUTH2.
func chooseBearer(asked string, caps imap.CapSet) (string, error) {
	bearer, xoauth2 := caps.Has(imap.AuthCap(sasl.OAuthBearer)), caps.Has(imap.AuthCap(mechXOAUTH2))
	switch strings.ToLower(asked) {
	case "":
		if bearer {
			return sasl.OAuthBearer, nil
		}
		if xoauth2 {
			return mechXOAUTH2, nil
		}
		return "", errors.New("server offers neither AUTH=OAUTHBEARER nor AUTH=XOAUTH2, which a login with a token needs")
	case "oauthbearer":
		if !bearer {
			return "", errors.New("server does not offer AUTH=OAUTHBEARER, and the endpoint asks for it")
		}
		return sasl.OAuthBearer, nil
	case "xoauth2":
		if !xoauth2 {
			return "", errors.New("server does not offer AUTH=XOAUTH2, and the endpoint asks for it")
		}
		return mechXOAUTH2, nil
	}
	return "", fmt.Errorf("mechanism %q cannot carry a token: want xoauth2, oauthbearer or auto", asked)
}

// oauthLogin logs in with a token from cfg.TokenSource, asked for now, so
// that a connection made after the last token expired gets a new one. A
// token from the source's cache that the server refuses (expired or
// revoked early, or the server's clock is ahead) is dropped from the cache
// and a new one tried once, on the same connection.
func (c *Conn) oauthLogin(ctx context.Context, caps imap.CapSet) (Kind, string, error) {
	cfg := c.cfg
	op := "login as " + cfg.User
	if cfg.AuthUser != "" {
		return KindAuth, op, errors.New("an admin login (auth user) cannot use a token: the token names the mailbox itself")
	}
	mech, err := chooseBearer(cfg.Mechanism, caps)
	if err != nil {
		return KindAuth, op, err
	}
	op += " with " + mech
	host, portText, _ := net.SplitHostPort(cfg.Addr)
	port, _ := strconv.Atoi(portText)
	for retried := false; ; retried = true {
		tok, err := cfg.TokenSource.Token(ctx, cfg.User)
		if err != nil {
			kind := KindAuth
			if oauth.IsTemporary(err) || ctx.Err() != nil {
				kind = KindConnect
			}
			return kind, "get oauth token for " + cfg.User, err
		}
		secret := tok.AccessToken.Reveal()
		bc := &bearerClient{mech: mech, user: cfg.User, token: secret, host: host, port: port}
		err = c.Client.Authenticate(bc)
		if err == nil {
			return 0, "", nil
		}
		err = bc.refusal(withoutSecret(err, secret))
		inv, canDrop := cfg.TokenSource.(oauth.Invalidator)
		if !retried && canDrop && !tok.Fresh && tokenRefused(err) {
			inv.Invalidate(cfg.User, tok)
			continue
		}
		return c.loginFailure(op, err)
	}
}

// tokenRefused tells a refused token (the server's JSON error, or a NO
// that is not throttling) from other failures.
func tokenRefused(err error) bool {
	var oe *OAuthError
	if errors.As(err, &oe) {
		return true
	}
	var ie *imap.Error
	if !errors.As(err, &ie) || ie.Type != imap.StatusResponseTypeNo {
		return false
	}
	switch ie.Code {
	case "", imap.ResponseCodeAuthenticationFailed, imap.ResponseCodeExpired:
		return true
	}
	return false
}
