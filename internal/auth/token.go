package auth

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"inkwell/internal/apperr"
)

// minSecretLen is the HS256 key size: a shorter secret weakens the MAC.
const minSecretLen = 32

// maxTokenLen bounds what Verify will parse; real tokens are a few hundred bytes.
const maxTokenLen = 4096

// Key is an HMAC secret named by an ID, which travels in the token's kid header so that
// keys can rotate without invalidating every token at once.
type Key struct {
	ID     string
	Secret []byte
}

// String names the key without revealing the secret, so that logging a config is safe.
func (k Key) String() string { return "auth.Key{ID: " + strconv.Quote(k.ID) + ", Secret: [redacted]}" }

// TokenConfig configures NewTokens.
type TokenConfig struct {
	Issuer   string        // iss of issued tokens, required on verified ones
	Audience string        // aud of issued tokens, required on verified ones
	TTL      time.Duration // lifetime of an access token
	Signing  Key           // signs new tokens; also accepted by Verify
	// Verify lists older keys still accepted while the tokens they signed expire.
	Verify []Key
	Now    func() time.Time // nil means time.Now
}

// Tokens issues and verifies short-lived HS256 JWT access tokens. It is safe for
// concurrent use.
type Tokens struct {
	issuer   string
	audience string
	ttl      time.Duration
	signing  Key
	keys     map[string][]byte
	now      func() time.Time
	parser   *jwt.Parser
}

// NewTokens checks cfg and returns a Tokens using it.
func NewTokens(cfg TokenConfig) (*Tokens, error) {
	if cfg.Issuer == "" || cfg.Audience == "" {
		return nil, errors.New("token config: issuer and audience are required")
	}
	if cfg.TTL <= 0 {
		return nil, fmt.Errorf("token config: ttl %s is not positive", cfg.TTL)
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	keys := make(map[string][]byte, 1+len(cfg.Verify))
	for _, k := range append([]Key{cfg.Signing}, cfg.Verify...) {
		if k.ID == "" {
			return nil, errors.New("token config: key id is empty")
		}
		if len(k.Secret) < minSecretLen {
			return nil, fmt.Errorf("token config: key %q: secret is %d bytes, need at least %d", k.ID, len(k.Secret), minSecretLen)
		}
		if _, dup := keys[k.ID]; dup {
			return nil, fmt.Errorf("token config: key id %q appears twice", k.ID)
		}
		// Copied so that a caller reusing its slice cannot change a live key.
		keys[k.ID] = append([]byte(nil), k.Secret...)
	}
	t := &Tokens{
		issuer:   cfg.Issuer,
		audience: cfg.Audience,
		ttl:      cfg.TTL,
		signing:  Key{ID: cfg.Signing.ID, Secret: keys[cfg.Signing.ID]},
		keys:     keys,
		now:      now,
	}
	t.parser = jwt.NewParser(
		// Pinning the algorithm stops alg=none and RS256/HS256 confusion before any key is chosen.
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(cfg.Issuer),
		jwt.WithAudience(cfg.Audience),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(now),
	)
	return t, nil
}

// maxSessionIDLen bounds the sid claim; session ids are 32 hex characters.
const maxSessionIDLen = 64

// claims are an access token's claims: the registered ones and the session the token
// belongs to, so that ending the session ends its access tokens too.
type claims struct {
	jwt.RegisteredClaims
	SessionID string `json:"sid"`
}

// Issue returns a signed access token for userID in sessionID, and when it expires.
func (t *Tokens) Issue(userID int, sessionID string) (token string, expiresAt time.Time, err error) {
	if userID <= 0 {
		return "", time.Time{}, fmt.Errorf("issue token: user id %d is not positive", userID)
	}
	if sessionID == "" || len(sessionID) > maxSessionIDLen {
		return "", time.Time{}, fmt.Errorf("issue token: session id %q is empty or too long", sessionID)
	}
	jti, err := uuid.NewRandom()
	if err != nil {
		return "", time.Time{}, fmt.Errorf("issue token: new jti: %w", err)
	}
	now := t.now()
	claims := claims{RegisteredClaims: jwt.RegisteredClaims{
		Issuer:    t.issuer,
		Subject:   strconv.Itoa(userID),
		Audience:  jwt.ClaimStrings{t.audience},
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(t.ttl)),
		ID:        jti.String(),
	}, SessionID: sessionID}
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
	tok.Header["kid"] = t.signing.ID
	token, err = tok.SignedString(t.signing.Secret)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign token: %w", err)
	}
	// exp is whole seconds; report the instant the token actually stops working.
	return token, claims.ExpiresAt.Time, nil
}

// Verify checks token and returns the viewer it names, with the token's session and
// expiry. Whether the session is still live is for the caller to check. Any failure is an UNAUTHENTICATED
// *apperr.Error whose message is "access token expired" for an authentic but expired token,
// so that clients know to refresh, and "invalid access token" otherwise; the detail is kept
// in the error's cause for logs.
func (t *Tokens) Verify(token string) (Viewer, error) {
	if len(token) > maxTokenLen {
		return Viewer{}, invalidToken(errors.New("token too long"))
	}
	var claims claims
	if _, err := t.parser.ParseWithClaims(token, &claims, t.key); err != nil {
		// The parser validates claims only after the signature, so a forged token never
		// reads as merely expired.
		if errors.Is(err, jwt.ErrTokenExpired) {
			e := apperr.Unauthenticated("access token expired")
			e.Err = err
			return Viewer{}, e
		}
		return Viewer{}, invalidToken(err)
	}
	id, err := strconv.Atoi(claims.Subject)
	// The round trip rejects "+7" and "007": we only ever issue the canonical form.
	if err != nil || id <= 0 || strconv.Itoa(id) != claims.Subject {
		return Viewer{}, invalidToken(fmt.Errorf("subject %q is not a user id", claims.Subject))
	}
	// Tokens issued before sessions were named carry no sid: they are refused, and the
	// client refreshes.
	if claims.SessionID == "" || len(claims.SessionID) > maxSessionIDLen {
		return Viewer{}, invalidToken(errors.New("no session id"))
	}
	return Viewer{UserID: id, SessionID: claims.SessionID, Expires: claims.ExpiresAt.Time}, nil
}

func (t *Tokens) key(tok *jwt.Token) (any, error) {
	if tok.Method != jwt.SigningMethodHS256 {
		return nil, fmt.Errorf("unexpected alg %v", tok.Header["alg"])
	}
	kid, ok := tok.Header["kid"].(string)
	if !ok {
		return nil, errors.New("no kid header")
	}
	secret, ok := t.keys[kid]
	if !ok {
		return nil, fmt.Errorf("unknown kid %q", kid)
	}
	return secret, nil
}

func invalidToken(cause error) *apperr.Error {
	e := apperr.Unauthenticated("invalid access token")
	e.Err = cause
	return e
}
