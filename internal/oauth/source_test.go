package oauth_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imapmigrate/imapmigrate/internal/oauth"
	"github.com/imapmigrate/imapmigrate/internal/secret"
)

// clock is a fake clock that tests move by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// endpoint is a token endpoint that counts its requests and issues
// tok-1, tok-2, … with the lifetime in seconds it is told; gate, when
// set, holds every answer until it is closed.
type endpoint struct {
	srv      *httptest.Server
	requests atomic.Int32
	lifetime atomic.Int32
	fail     atomic.Bool
	arrived  chan struct{}
	gate     chan struct{}
}

func startEndpoint(t *testing.T, lifetime int) *endpoint {
	t.Helper()
	e := &endpoint{arrived: make(chan struct{}, 100)}
	e.lifetime.Store(int32(lifetime))
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := e.requests.Add(1)
		e.arrived <- struct{}{}
		if e.gate != nil {
			<-e.gate
		}
		if e.fail.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			json.NewEncoder(w).Encode(map[string]string{"error": "temporarily_unavailable"})
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"access_token": fmt.Sprintf("tok-%d", n), "token_type": "Bearer", "expires_in": e.lifetime.Load()})
	}))
	t.Cleanup(e.srv.Close)
	return e
}

func newSource(t *testing.T, p oauth.Provider, url string, c *clock) *oauth.Source {
	t.Helper()
	cfg := oauth.Config{Provider: p, ClientID: clientID, TokenURL: url}
	sec := oauth.Secrets{ClientSecret: clientSecret, RefreshTokens: map[string]secret.Secret{alice: "rt-a", bob: "rt-b"}}
	s, err := oauth.New(cfg, sec, oauth.Options{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestCacheRefreshesBeforeExpiry: a token is reused until a margin before
// its expiry (a tenth of its lifetime, at most 5 minutes), then replaced.
func TestCacheRefreshesBeforeExpiry(t *testing.T) {
	tests := []struct {
		name          string
		lifetime      int // seconds
		reusedAt      time.Duration
		replacedAt    time.Duration
		wantRequested int32
	}{
		{"Hour", 3600, 3600*time.Second - 5*time.Minute - time.Second, 3600*time.Second - 5*time.Minute, 2},
		{"ThreeSeconds", 3, 2699 * time.Millisecond, 2700 * time.Millisecond, 2},
		{"ZeroLifetime", 0, -1, 0, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := startEndpoint(t, tt.lifetime)
			c := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
			s := newSource(t, oauth.Microsoft, e.srv.URL, c)
			first := mustToken(t, s, alice)
			if tt.reusedAt >= 0 {
				c.advance(tt.reusedAt)
				if tok := mustToken(t, s, alice); tok.AccessToken != first.AccessToken || tok.Fresh {
					t.Errorf("at +%v: token %q (fresh %v); want the cached %q", tt.reusedAt, tok.AccessToken.Reveal(), tok.Fresh, first.AccessToken.Reveal())
				}
				c.advance(tt.replacedAt - tt.reusedAt)
			}
			tok := mustToken(t, s, alice)
			if tok.AccessToken == first.AccessToken || !tok.Fresh {
				t.Errorf("at +%v: token %q (fresh %v); want a new one", tt.replacedAt, tok.AccessToken.Reveal(), tok.Fresh)
			}
			if n := e.requests.Load(); n != tt.wantRequested {
				t.Errorf("endpoint asked %d times; want %d", n, tt.wantRequested)
			}
		})
	}
}

// TestCacheSingleFlight: callers for the same key share one request;
// different mailboxes of a per-user grant have their own.
func TestCacheSingleFlight(t *testing.T) {
	tests := []struct {
		name  string
		p     oauth.Provider
		users []string
		want  int32
	}{
		{"AppOnlySharedByAll", oauth.Microsoft, []string{alice, bob, alice, bob, alice, bob}, 1},
		{"RefreshPerUser", oauth.Refresh, []string{alice, bob, alice, bob, alice, bob}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := startEndpoint(t, 3600)
			e.gate = make(chan struct{})
			s := newSource(t, tt.p, e.srv.URL, &clock{now: time.Now()})
			var wg sync.WaitGroup
			got := make([]oauth.Token, len(tt.users))
			errs := make([]error, len(tt.users))
			for i, u := range tt.users {
				wg.Add(1)
				go func() {
					defer wg.Done()
					got[i], errs[i] = s.Token(context.Background(), u)
				}()
			}
			// Every request the source makes is held until all that it
			// should make have arrived; the callers that came meanwhile
			// wait for them, the later ones find the cache.
			for range tt.want {
				<-e.arrived
			}
			close(e.gate)
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Fatalf("Token(%q) = %v", tt.users[i], err)
				}
				if got[i].AccessToken != got[i%2].AccessToken {
					t.Errorf("caller %d (%s) got %q, caller %d got %q; want the same", i, tt.users[i], got[i].AccessToken.Reveal(), i%2, got[i%2].AccessToken.Reveal())
				}
			}
			if n := e.requests.Load(); n != tt.want {
				t.Errorf("endpoint asked %d times; want %d", n, tt.want)
			}
		})
	}
}

// TestCacheInvalidate: a refused token is dropped, once: a caller that
// comes with the same stale token after it was replaced drops nothing.
func TestCacheInvalidate(t *testing.T) {
	e := startEndpoint(t, 3600)
	s := newSource(t, oauth.Microsoft, e.srv.URL, &clock{now: time.Now()})
	stale := mustToken(t, s, alice)
	s.Invalidate(alice, stale)
	next := mustToken(t, s, bob)
	s.Invalidate(bob, stale)
	if again := mustToken(t, s, alice); again.AccessToken != next.AccessToken || next.AccessToken == stale.AccessToken {
		t.Errorf("tokens %q, %q, %q; want a new one after Invalidate, then kept", stale.AccessToken.Reveal(), next.AccessToken.Reveal(), again.AccessToken.Reveal())
	}
	if n := e.requests.Load(); n != 2 {
		t.Errorf("endpoint asked %d times; want 2", n)
	}
}

// TestCacheOutageKeepsValidToken: when the endpoint fails during the
// margin, the token that has not expired yet is still handed out; once it
// has, the failure is.
func TestCacheOutageKeepsValidToken(t *testing.T) {
	e := startEndpoint(t, 100)
	c := &clock{now: time.Now()}
	s := newSource(t, oauth.Microsoft, e.srv.URL, c)
	first := mustToken(t, s, alice)
	e.fail.Store(true)
	c.advance(95 * time.Second)
	if tok := mustToken(t, s, alice); tok.AccessToken != first.AccessToken {
		t.Errorf("during the outage, in the margin: %q; want the still valid %q", tok.AccessToken.Reveal(), first.AccessToken.Reveal())
	}
	c.advance(6 * time.Second)
	_, err := s.Token(context.Background(), alice)
	if err == nil || !strings.Contains(err.Error(), "HTTP 503: temporarily_unavailable") || !oauth.IsTemporary(err) {
		t.Errorf("after expiry, during the outage: %v; want the temporary HTTP 503", err)
	}
}
