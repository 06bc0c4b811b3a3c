package auth

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"inkwell/internal/apperr"
)

var (
	testNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	keyOld  = Key{ID: "k-old", Secret: bytes.Repeat([]byte("o"), 32)}
	keyNew  = Key{ID: "k-new", Secret: bytes.Repeat([]byte("n"), 32)}
)

const (
	testIssuer   = "inkwell"
	testAudience = "inkwell-api"
	msgInvalid   = "invalid access token"
	msgExpired   = "access token expired"
)

func testConfig() TokenConfig {
	return TokenConfig{
		Issuer:   testIssuer,
		Audience: testAudience,
		TTL:      15 * time.Minute,
		Signing:  keyNew,
		Verify:   []Key{keyOld},
		Now:      func() time.Time { return testNow },
	}
}

func newTestTokens(t *testing.T, edit func(*TokenConfig)) *Tokens {
	t.Helper()
	cfg := testConfig()
	if edit != nil {
		edit(&cfg)
	}
	tok, err := NewTokens(cfg)
	if err != nil {
		t.Fatalf("NewTokens: %v", err)
	}
	return tok
}

// goodClaims are the claims Issue would produce for user 42 at testNow.
func goodClaims() jwt.MapClaims {
	return jwt.MapClaims{
		"iss": testIssuer,
		"aud": []string{testAudience},
		"sub": "42",
		"iat": testNow.Unix(),
		"exp": testNow.Add(10 * time.Minute).Unix(),
		"jti": uuid.NewString(),
		"sid": "session-1",
	}
}

func sign(t *testing.T, m jwt.SigningMethod, kid string, secret any, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(secret)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return s
}

// hmacWithHeader signs claims with HMAC-SHA256 under an arbitrary header, the shape of an
// algorithm-confusion attack that labels an HMAC token as RS256.
func hmacWithHeader(t *testing.T, header map[string]any, claims jwt.MapClaims, secret []byte) string {
	t.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	signed := enc(header) + "." + enc(claims)
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(signed))
	return signed + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

func with(c jwt.MapClaims, key string, value any) jwt.MapClaims {
	if value == nil {
		delete(c, key)
	} else {
		c[key] = value
	}
	return c
}

func TestVerify(t *testing.T) {
	tokens := newTestTokens(t, nil)
	issued, _, err := tokens.Issue(42, "session-1")
	if err != nil {
		t.Fatal(err)
	}
	oldSigner := newTestTokens(t, func(c *TokenConfig) { c.Signing, c.Verify = keyOld, nil })
	fromOld, _, err := oldSigner.Issue(42, "session-1")
	if err != nil {
		t.Fatal(err)
	}
	past := newTestTokens(t, func(c *TokenConfig) { c.Now = func() time.Time { return testNow.Add(-time.Hour) } })
	expired, _, err := past.Issue(42, "session-1")
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(issued, ".")
	flipped := parts[2][1:2]
	if flipped == "A" {
		flipped = "B"
	} else {
		flipped = "A"
	}
	badSig := parts[0] + "." + parts[1] + "." + parts[2][:1] + flipped + parts[2][2:]
	other := sign(t, jwt.SigningMethodHS256, keyNew.ID, keyNew.Secret, with(goodClaims(), "sub", "7"))
	swappedPayload := parts[0] + "." + strings.Split(other, ".")[1] + "." + parts[2]

	for _, tc := range []struct {
		name    string
		token   string
		want    int    // user id when valid
		wantMsg string // message when not
	}{
		{"issued token is valid", issued, 42, ""},
		{"crafted good token is valid", sign(t, jwt.SigningMethodHS256, keyNew.ID, keyNew.Secret, goodClaims()), 42, ""},
		{"old key listed in Verify is accepted", fromOld, 42, ""},
		{"expired", expired, 0, msgExpired},
		{"expired one second ago", sign(t, jwt.SigningMethodHS256, keyNew.ID, keyNew.Secret,
			with(goodClaims(), "exp", testNow.Add(-time.Second).Unix())), 0, msgExpired},
		{"wrong audience", sign(t, jwt.SigningMethodHS256, keyNew.ID, keyNew.Secret,
			with(goodClaims(), "aud", "someone-else")), 0, msgInvalid},
		{"missing audience", sign(t, jwt.SigningMethodHS256, keyNew.ID, keyNew.Secret,
			with(goodClaims(), "aud", nil)), 0, msgInvalid},
		{"wrong issuer", sign(t, jwt.SigningMethodHS256, keyNew.ID, keyNew.Secret,
			with(goodClaims(), "iss", "evil")), 0, msgInvalid},
		{"missing issuer", sign(t, jwt.SigningMethodHS256, keyNew.ID, keyNew.Secret,
			with(goodClaims(), "iss", nil)), 0, msgInvalid},
		{"alg none", sign(t, jwt.SigningMethodNone, keyNew.ID, jwt.UnsafeAllowNoneSignatureType, goodClaims()), 0, msgInvalid},
		{"alg HS512 with the right secret", sign(t, jwt.SigningMethodHS512, keyNew.ID, keyNew.Secret, goodClaims()), 0, msgInvalid},
		{"alg RS256 over an HMAC signature", hmacWithHeader(t,
			map[string]any{"alg": "RS256", "typ": "JWT", "kid": keyNew.ID}, goodClaims(), keyNew.Secret), 0, msgInvalid},
		{"unknown kid", sign(t, jwt.SigningMethodHS256, "k-retired", keyNew.Secret, goodClaims()), 0, msgInvalid},
		{"missing kid", sign(t, jwt.SigningMethodHS256, "", keyNew.Secret, goodClaims()), 0, msgInvalid},
		{"numeric kid", hmacWithHeader(t,
			map[string]any{"alg": "HS256", "typ": "JWT", "kid": 1}, goodClaims(), keyNew.Secret), 0, msgInvalid},
		{"known kid with another key's secret", sign(t, jwt.SigningMethodHS256, keyOld.ID, keyNew.Secret, goodClaims()), 0, msgInvalid},
		{"tampered signature", badSig, 0, msgInvalid},
		{"payload swapped under a valid signature", swappedPayload, 0, msgInvalid},
		{"expired with a forged signature is invalid, not expired", sign(t, jwt.SigningMethodHS256, keyNew.ID,
			bytes.Repeat([]byte("x"), 32), with(goodClaims(), "exp", testNow.Add(-time.Hour).Unix())), 0, msgInvalid},
		{"missing exp", sign(t, jwt.SigningMethodHS256, keyNew.ID, keyNew.Secret, with(goodClaims(), "exp", nil)), 0, msgInvalid},
		{"non-numeric sub", sign(t, jwt.SigningMethodHS256, keyNew.ID, keyNew.Secret, with(goodClaims(), "sub", "alice")), 0, msgInvalid},
		{"missing sub", sign(t, jwt.SigningMethodHS256, keyNew.ID, keyNew.Secret, with(goodClaims(), "sub", nil)), 0, msgInvalid},
		{"zero sub", sign(t, jwt.SigningMethodHS256, keyNew.ID, keyNew.Secret, with(goodClaims(), "sub", "0")), 0, msgInvalid},
		{"negative sub", sign(t, jwt.SigningMethodHS256, keyNew.ID, keyNew.Secret, with(goodClaims(), "sub", "-3")), 0, msgInvalid},
		{"non-canonical sub", sign(t, jwt.SigningMethodHS256, keyNew.ID, keyNew.Secret, with(goodClaims(), "sub", "042")), 0, msgInvalid},
		{"sub of the wrong type", sign(t, jwt.SigningMethodHS256, keyNew.ID, keyNew.Secret, with(goodClaims(), "sub", 42)), 0, msgInvalid},
		{"missing sid (issued before sessions were named)", sign(t, jwt.SigningMethodHS256, keyNew.ID, keyNew.Secret,
			with(goodClaims(), "sid", nil)), 0, msgInvalid},
		{"empty sid", sign(t, jwt.SigningMethodHS256, keyNew.ID, keyNew.Secret, with(goodClaims(), "sid", "")), 0, msgInvalid},
		{"sid of the wrong type", sign(t, jwt.SigningMethodHS256, keyNew.ID, keyNew.Secret, with(goodClaims(), "sid", 7)), 0, msgInvalid},
		{"overlong sid", sign(t, jwt.SigningMethodHS256, keyNew.ID, keyNew.Secret,
			with(goodClaims(), "sid", strings.Repeat("s", maxSessionIDLen+1))), 0, msgInvalid},
		{"garbage", "not.a.jwt", 0, msgInvalid},
		{"empty", "", 0, msgInvalid},
		{"too long", issued + strings.Repeat("A", maxTokenLen), 0, msgInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := tokens.Verify(tc.token)
			if tc.wantMsg == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if v.UserID != tc.want || v.SessionID != "session-1" || v.Expires.IsZero() {
					t.Fatalf("viewer = %+v, want user %d in session-1 with its expiry", v, tc.want)
				}
				return
			}
			if !v.Anonymous() {
				t.Errorf("viewer = %+v, want anonymous", v)
			}
			if got := apperr.CodeOf(err); got != apperr.CodeUnauthenticated {
				t.Fatalf("code = %s, want %s (err %v)", got, apperr.CodeUnauthenticated, err)
			}
			var e *apperr.Error
			if !errors.As(err, &e) {
				t.Fatalf("err %T is not *apperr.Error", err)
			}
			if e.Message != tc.wantMsg {
				t.Errorf("message = %q, want %q (cause %v)", e.Message, tc.wantMsg, e.Err)
			}
		})
	}
}

func TestIssue(t *testing.T) {
	tokens := newTestTokens(t, nil)
	token, exp, err := tokens.Issue(42, "session-1")
	if err != nil {
		t.Fatal(err)
	}
	if want := testNow.Add(15 * time.Minute); !exp.Equal(want) {
		t.Errorf("expiresAt = %s, want %s", exp, want)
	}
	claims := jwt.MapClaims{}
	parsed, _, err := jwt.NewParser().ParseUnverified(token, claims)
	if err != nil {
		t.Fatal(err)
	}
	if parsed.Header["alg"] != "HS256" || parsed.Header["kid"] != keyNew.ID {
		t.Errorf("header = %v, want alg HS256 and kid %s", parsed.Header, keyNew.ID)
	}
	for name, want := range map[string]any{
		"sub": "42",
		"sid": "session-1",
		"iss": testIssuer,
		"iat": float64(testNow.Unix()),
		"exp": float64(exp.Unix()),
	} {
		if claims[name] != want {
			t.Errorf("%s = %v, want %v", name, claims[name], want)
		}
	}
	if aud, _ := claims.GetAudience(); len(aud) != 1 || aud[0] != testAudience {
		t.Errorf("aud = %v, want [%s]", aud, testAudience)
	}
	jti, _ := claims["jti"].(string)
	if _, err := uuid.Parse(jti); err != nil {
		t.Errorf("jti %q is not a uuid: %v", jti, err)
	}

	second, _, err := tokens.Issue(42, "session-1")
	if err != nil {
		t.Fatal(err)
	}
	if second == token {
		t.Error("two tokens for the same user are identical; jti should differ")
	}

	for _, id := range []int{0, -1} {
		if _, _, err := tokens.Issue(id, "session-1"); err == nil {
			t.Errorf("Issue(%d) succeeded, want an error", id)
		}
	}
	for _, sid := range []string{"", strings.Repeat("s", maxSessionIDLen+1)} {
		if _, _, err := tokens.Issue(42, sid); err == nil {
			t.Errorf("Issue(42, %q) succeeded, want an error", sid)
		}
	}
}

func TestVerifyAfterRotation(t *testing.T) {
	// A token signed by the old key keeps working once a new key signs, until the old key
	// is dropped from Verify.
	before := newTestTokens(t, func(c *TokenConfig) { c.Signing, c.Verify = keyOld, nil })
	token, _, err := before.Issue(7, "session-1")
	if err != nil {
		t.Fatal(err)
	}
	during := newTestTokens(t, nil)
	if v, err := during.Verify(token); err != nil || v.UserID != 7 {
		t.Fatalf("during rotation: viewer %+v, err %v", v, err)
	}
	after := newTestTokens(t, func(c *TokenConfig) { c.Verify = nil })
	if _, err := after.Verify(token); apperr.CodeOf(err) != apperr.CodeUnauthenticated {
		t.Fatalf("after rotation: err %v, want UNAUTHENTICATED", err)
	}
}

func TestNewTokensRejects(t *testing.T) {
	short := Key{ID: "short", Secret: bytes.Repeat([]byte("s"), 31)}
	for _, tc := range []struct {
		name string
		edit func(*TokenConfig)
	}{
		{"a short signing secret", func(c *TokenConfig) { c.Signing = short }},
		{"a short verify secret", func(c *TokenConfig) { c.Verify = []Key{short} }},
		{"an empty signing key id", func(c *TokenConfig) { c.Signing.ID = "" }},
		{"an empty verify key id", func(c *TokenConfig) { c.Verify = []Key{{Secret: keyOld.Secret}} }},
		{"a duplicate key id", func(c *TokenConfig) { c.Verify = []Key{{ID: keyNew.ID, Secret: keyOld.Secret}} }},
		{"a zero ttl", func(c *TokenConfig) { c.TTL = 0 }},
		{"a negative ttl", func(c *TokenConfig) { c.TTL = -time.Minute }},
		{"an empty issuer", func(c *TokenConfig) { c.Issuer = "" }},
		{"an empty audience", func(c *TokenConfig) { c.Audience = "" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			tc.edit(&cfg)
			if _, err := NewTokens(cfg); err == nil {
				t.Fatal("NewTokens succeeded, want an error")
			}
		})
	}
}

func TestNewTokensCopiesSecrets(t *testing.T) {
	secret := bytes.Repeat([]byte("c"), 32)
	tokens := newTestTokens(t, func(c *TokenConfig) { c.Signing = Key{ID: "c", Secret: secret} })
	token, _, err := tokens.Issue(1, "session-1")
	if err != nil {
		t.Fatal(err)
	}
	secret[0] = 'X'
	if _, err := tokens.Verify(token); err != nil {
		t.Fatalf("Verify after the caller changed its slice: %v", err)
	}
}

func TestKeyStringHidesSecret(t *testing.T) {
	k := Key{ID: "k1", Secret: []byte("super-secret-value-super-secret!")}
	if s := k.String(); strings.Contains(s, "super") || !strings.Contains(s, "k1") {
		t.Errorf("String() = %q", s)
	}
}
