package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// AuthOAuth2ClientCredentials is the AuthConfig.Type of the OAuth 2.0
// client-credentials grant (RFC 6749 section 4.4).
const AuthOAuth2ClientCredentials = "oauth2_client_credentials"

// Client authentication methods at the token endpoint.
const (
	ClientAuthBasic = "basic" // HTTP Basic (client_secret_basic), the default
	ClientAuthPost  = "post"  // in the form body (client_secret_post)
)

// AuthConfig is how Junction authenticates to an HTTP upstream with
// credentials of its own that it must obtain first (static credentials are
// headers or bearer). The caller's token is never used.
type AuthConfig struct {
	// Type is oauth2_client_credentials. Required.
	Type string `yaml:"type" json:"type"`
	// TokenURL is the authorization server's token endpoint (http or
	// https). Required.
	TokenURL string `yaml:"token_url" json:"token_url"`
	// ClientID identifies Junction to the authorization server. Required.
	ClientID string `yaml:"client_id" json:"client_id"`
	// ClientSecret is Junction's client secret. It is stored encrypted and
	// never shown by the admin API.
	ClientSecret string `yaml:"client_secret,omitempty" json:"client_secret,omitempty"`
	// Scopes are requested with every token (space-separated on the wire).
	Scopes []string `yaml:"scopes,omitempty" json:"scopes,omitempty"`
	// ClientAuth is how the client authenticates at the token endpoint:
	// basic (HTTP Basic, the default) or post (client_id and client_secret
	// in the form).
	ClientAuth string `yaml:"client_auth,omitempty" json:"client_auth,omitempty"`
}

// validate reports the problems of an auth block under field.
func (a *AuthConfig) validate(bad func(field, format string, args ...any)) {
	switch a.Type {
	case AuthOAuth2ClientCredentials:
	case "":
		bad("auth.type", "required (%s)", AuthOAuth2ClientCredentials)
	default:
		bad("auth.type", "%q is not %s", a.Type, AuthOAuth2ClientCredentials)
	}
	if a.TokenURL == "" {
		bad("auth.token_url", "required")
	} else if u, err := url.Parse(a.TokenURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("auth.token_url", "%q is not an http or https URL", a.TokenURL)
	}
	if a.ClientID == "" {
		bad("auth.client_id", "required")
	}
	switch a.ClientAuth {
	case "", ClientAuthBasic, ClientAuthPost:
	default:
		bad("auth.client_auth", "%q is not %s or %s", a.ClientAuth, ClientAuthBasic, ClientAuthPost)
	}
}

// Token lifetimes.
const (
	// tokenRefreshMargin is how long before its expiry a token is replaced
	// (at most half its lifetime).
	tokenRefreshMargin = time.Minute
	// defaultTokenLifetime is assumed when the token response has no
	// expires_in.
	defaultTokenLifetime = time.Hour
	// maxTokenLifetime caps a token's lifetime (a larger expires_in would
	// overflow a time.Duration): such a token is replaced once a day.
	maxTokenLifetime = 24 * time.Hour
	// tokenRequestTimeout bounds one token request.
	tokenRequestTimeout = 30 * time.Second
	// maxTokenResponse bounds the token response read.
	maxTokenResponse = 1 << 20
)

// TokenError is a failed token request: the authorization server's answer
// (its OAuth error code and description, never the credentials).
type TokenError struct {
	Status      int
	Code        string
	Description string
}

func (e *TokenError) Error() string {
	msg := fmt.Sprintf("registry: oauth token request failed (HTTP %d", e.Status)
	if e.Code != "" {
		msg += ", " + e.Code
	}
	msg += ")"
	if e.Description != "" {
		msg += ": " + e.Description
	}
	return msg
}

// tokenSource fetches client-credentials tokens and caches one until
// shortly before it expires. It belongs to one upstream definition, so a
// token survives reconnects.
type tokenSource struct {
	cfg AuthConfig
	hc  *http.Client
	now func() time.Time

	// fetching is held (a token sent) across a fetch so that concurrent
	// requests wait for one token request; a waiter gives up when its
	// context ends.
	fetching chan struct{}
	// mu guards tok and refreshAt; it is never held across a fetch.
	mu        sync.Mutex
	tok       string
	refreshAt time.Time
}

func newTokenSource(cfg AuthConfig, now func() time.Time) *tokenSource {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	return &tokenSource{cfg: cfg, hc: &http.Client{Transport: tr, Timeout: tokenRequestTimeout}, now: now, fetching: make(chan struct{}, 1)}
}

// token returns a valid access token, fetching one when there is none or
// it is about to expire.
func (s *tokenSource) token(ctx context.Context) (string, error) {
	if tok := s.cached(); tok != "" {
		return tok, nil
	}
	select {
	case s.fetching <- struct{}{}:
	case <-ctx.Done():
		return "", fmt.Errorf("registry: oauth token request: %w", ctx.Err())
	}
	defer func() { <-s.fetching }()
	// Another request may have fetched one while this one waited.
	if tok := s.cached(); tok != "" {
		return tok, nil
	}
	tok, lifetime, err := s.fetch(ctx)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tok = tok
	s.refreshAt = s.now().Add(lifetime - min(tokenRefreshMargin, lifetime/2))
	return tok, nil
}

// cached returns the cached token while it is valid, else "".
func (s *tokenSource) cached() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tok != "" && s.now().Before(s.refreshAt) {
		return s.tok
	}
	return ""
}

// invalidate drops tok (the upstream refused it), unless it was replaced
// already.
func (s *tokenSource) invalidate(tok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tok == tok {
		s.tok = ""
	}
}

// fetch runs the client-credentials grant.
func (s *tokenSource) fetch(ctx context.Context) (string, time.Duration, error) {
	form := url.Values{"grant_type": {"client_credentials"}}
	if len(s.cfg.Scopes) > 0 {
		form.Set("scope", strings.Join(s.cfg.Scopes, " "))
	}
	if s.cfg.ClientAuth == ClientAuthPost {
		form.Set("client_id", s.cfg.ClientID)
		form.Set("client_secret", s.cfg.ClientSecret)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", 0, fmt.Errorf("registry: oauth token request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if s.cfg.ClientAuth != ClientAuthPost {
		// RFC 6749 section 2.3.1: both parts form-urlencoded first.
		req.SetBasicAuth(url.QueryEscape(s.cfg.ClientID), url.QueryEscape(s.cfg.ClientSecret))
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		return "", 0, fmt.Errorf("registry: oauth token request: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenResponse))
	if err != nil {
		return "", 0, fmt.Errorf("registry: oauth token response: %w", err)
	}
	var tr struct {
		AccessToken      string      `json:"access_token"`
		TokenType        string      `json:"token_type"`
		ExpiresIn        json.Number `json:"expires_in"`
		Error            string      `json:"error"`
		ErrorDescription string      `json:"error_description"`
	}
	decodeErr := json.Unmarshal(body, &tr)
	if resp.StatusCode/100 != 2 {
		return "", 0, &TokenError{Status: resp.StatusCode, Code: tr.Error, Description: tr.ErrorDescription}
	}
	switch {
	case decodeErr != nil:
		return "", 0, fmt.Errorf("registry: oauth token response is not JSON: %w", decodeErr)
	case tr.AccessToken == "":
		return "", 0, errors.New("registry: oauth token response has no access_token")
	case tr.TokenType != "" && !strings.EqualFold(tr.TokenType, "bearer"):
		return "", 0, fmt.Errorf("registry: oauth token type %q is not bearer", tr.TokenType)
	}
	lifetime := defaultTokenLifetime
	if tr.ExpiresIn != "" {
		secs, err := tr.ExpiresIn.Float64()
		if err != nil || secs <= 0 {
			return "", 0, fmt.Errorf("registry: oauth token response: expires_in %q is not a positive number", tr.ExpiresIn)
		}
		lifetime = time.Duration(min(secs, maxTokenLifetime.Seconds()) * float64(time.Second))
	}
	return tr.AccessToken, lifetime, nil
}

// oauthTransport sends each request with the token source's bearer token
// and, when the upstream answers 401, fetches a new token and sends the
// request once more.
type oauthTransport struct {
	src  *tokenSource
	next http.RoundTripper
}

func (t *oauthTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	tok, err := t.src.token(req.Context())
	if err != nil {
		return nil, err
	}
	resp, err := t.next.RoundTrip(withBearer(req, tok))
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	// Retry once, if the body can be sent again.
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		return resp, nil
	}
	t.src.invalidate(tok)
	fresh, err := t.src.token(req.Context())
	if err != nil || fresh == tok {
		return resp, nil
	}
	retry := withBearer(req, fresh)
	if req.GetBody != nil {
		body, err := req.GetBody()
		if err != nil {
			return resp, nil
		}
		retry.Body = body
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return t.next.RoundTrip(retry)
}

// withBearer is a copy of req with the Authorization header set.
func withBearer(req *http.Request, tok string) *http.Request {
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", "Bearer "+tok)
	return r
}

// CloseIdleConnections passes on to the inner transport (http.Client
// calls it on close).
func (t *oauthTransport) CloseIdleConnections() {
	if c, ok := t.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}
