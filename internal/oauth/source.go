package oauth

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/imapmigrate/imapmigrate/internal/secret"
)

const (
	// maxMargin caps how long before its expiry a token is replaced: an
	// hour-long token is renewed 5 minutes early, so that a login never
	// starts with a token that dies during the SASL exchange.
	maxMargin = 5 * time.Minute
	// marginDivisor: a short-lived token is renewed when a tenth of its
	// lifetime is left.
	marginDivisor = 10
	// unknownLifetime is assumed when the endpoint says nothing of
	// expires_in (RFC 6749 makes it only RECOMMENDED). A token refused
	// sooner is replaced anyway (Invalidator).
	unknownLifetime = 10 * time.Minute

	defaultHTTPTimeout = 30 * time.Second
)

// Source is a caching TokenSource for one Config; see New.
type Source struct {
	grant   grant
	http    *http.Client
	now     func() time.Time
	rotated func(user string, refreshToken secret.Secret)

	mu    sync.Mutex
	slots map[string]*slot // by grant.slotKey(user)
}

// slot is the cache entry of one key: the current token and the request
// under way, if any.
type slot struct {
	tok       Token
	refreshAt time.Time // ask for a new token from then on
	flight    *flight
}

// flight is one token request that callers for the same key share.
type flight struct {
	done chan struct{}
	tok  Token
	err  error
}

// grant is one kind of token request.
type grant interface {
	// slotKey names the cache slot of user: "" for a token shared by all.
	slotKey(user string) string
	// fetch asks the endpoint for a token for user.
	fetch(ctx context.Context, s *Source, user string) (Token, error)
}

// New checks cfg and secrets and returns a Source for them. Errors name
// the missing or bad setting.
func New(cfg Config, sec Secrets, opts Options) (*Source, error) {
	s := &Source{http: opts.HTTPClient, now: opts.Now, rotated: opts.Rotated, slots: map[string]*slot{}}
	if s.http == nil {
		s.http = &http.Client{Timeout: defaultHTTPTimeout}
	}
	if s.now == nil {
		s.now = time.Now
	}
	var err error
	switch cfg.Provider {
	case Microsoft:
		s.grant, err = newMicrosoft(cfg, sec)
	case Google:
		s.grant, err = newGoogle(cfg, sec)
	case Refresh:
		s.grant, err = newRefresh(cfg, sec)
	default:
		_, err = ParseProvider(string(cfg.Provider))
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Token returns a token for user from the cache while it has more than
// its margin left, else from the token endpoint; callers for the same
// mailbox (the same tenant, for app-only tokens) share one request. When
// the request fails but the cached token has not expired yet, that token
// is returned: the next call asks again.
func (s *Source) Token(ctx context.Context, user string) (Token, error) {
	key := s.grant.slotKey(user)
	for {
		s.mu.Lock()
		sl := s.slots[key]
		if sl == nil {
			sl = &slot{}
			s.slots[key] = sl
		}
		if sl.tok.AccessToken != "" && s.now().Before(sl.refreshAt) {
			tok := sl.tok
			s.mu.Unlock()
			tok.Fresh = false
			return tok, nil
		}
		f := sl.flight
		lead := f == nil
		if lead {
			f = &flight{done: make(chan struct{})}
			sl.flight = f
		}
		s.mu.Unlock()

		if lead {
			s.run(ctx, sl, f, user)
		} else {
			select {
			case <-f.done:
			case <-ctx.Done():
				return Token{}, ctx.Err()
			}
		}
		if f.err != nil && isContextErr(f.err) && ctx.Err() == nil {
			// The caller that led the request gave up; this one has
			// not, so it asks itself.
			continue
		}
		if f.err != nil {
			s.mu.Lock()
			old := sl.tok
			s.mu.Unlock()
			if old.AccessToken != "" && s.now().Before(old.Expiry) {
				old.Fresh = false
				return old, nil
			}
			return Token{}, f.err
		}
		return f.tok, nil
	}
}

// run performs f's request and publishes its result.
func (s *Source) run(ctx context.Context, sl *slot, f *flight, user string) {
	issued := s.now()
	tok, err := s.grant.fetch(ctx, s, user)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		tok.Fresh = true
		life := tok.Expiry.Sub(issued)
		sl.tok = tok
		sl.refreshAt = tok.Expiry.Add(-min(maxMargin, life/marginDivisor))
	}
	f.tok, f.err = tok, err
	sl.flight = nil
	close(f.done)
}

// Invalidate implements Invalidator.
func (s *Source) Invalidate(user string, tok Token) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sl := s.slots[s.grant.slotKey(user)]; sl != nil && sl.tok.AccessToken == tok.AccessToken {
		sl.tok = Token{}
	}
}

func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
