package auth

import (
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"
)

func TestPasswordRoundTrip(t *testing.T) {
	hash, err := HashPassword("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if want := "$argon2id$v=19$m=19456,t=2,p=1$"; !strings.HasPrefix(hash, want) {
		t.Errorf("hash %q does not start with %q", hash, want)
	}
	if !CheckPassword(hash, "correct horse battery staple") {
		t.Error("the right password does not match")
	}
	if CheckPassword(hash, "correct horse battery stapler") {
		t.Error("a wrong password matches")
	}
	if CheckPassword(hash, "") {
		t.Error("an empty password matches")
	}
	again, err := HashPassword("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if again == hash {
		t.Error("two hashes of one password are equal; the salt should differ")
	}
}

func TestPasswordParamsTravelWithHash(t *testing.T) {
	saved := PasswordParams
	t.Cleanup(func() { PasswordParams = saved })
	PasswordParams = Argon2Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
	hash, err := HashPassword("pw")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hash, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("hash %q does not record the lowered parameters", hash)
	}
	// A hash made under older parameters still checks after the defaults change.
	PasswordParams = saved
	if !CheckPassword(hash, "pw") {
		t.Error("the right password does not match a hash with other parameters")
	}
	if CheckPassword(hash, "wrong") {
		t.Error("a wrong password matches")
	}
}

func TestCheckPasswordMalformed(t *testing.T) {
	salt := base64.RawStdEncoding.EncodeToString([]byte("0123456789abcdef"))
	key := base64.RawStdEncoding.EncodeToString(make([]byte, 32))
	for _, tc := range []struct{ name, hash string }{
		{"empty", ""},
		{"plain text", "hunter2"},
		{"sha256 hex", "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"},
		{"argon2i", "$argon2i$v=19$m=19456,t=2,p=1$" + salt + "$" + key},
		{"bcrypt", "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"},
		{"old version", "$argon2id$v=16$m=19456,t=2,p=1$" + salt + "$" + key},
		{"no version", "$argon2id$m=19456,t=2,p=1$" + salt + "$" + key},
		{"missing hash", "$argon2id$v=19$m=19456,t=2,p=1$" + salt},
		{"extra segment", "$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$" + key + "$x"},
		{"params out of order", "$argon2id$v=19$t=2,m=19456,p=1$" + salt + "$" + key},
		{"trailing garbage in params", "$argon2id$v=19$m=19456,t=2,p=1x$" + salt + "$" + key},
		{"negative memory", "$argon2id$v=19$m=-1,t=2,p=1$" + salt + "$" + key},
		{"zero time", "$argon2id$v=19$m=19456,t=0,p=1$" + salt + "$" + key},
		{"zero threads", "$argon2id$v=19$m=19456,t=2,p=0$" + salt + "$" + key},
		{"threads overflow", "$argon2id$v=19$m=19456,t=2,p=256$" + salt + "$" + key},
		{"huge memory", "$argon2id$v=19$m=4294967295,t=2,p=1$" + salt + "$" + key},
		{"huge time", "$argon2id$v=19$m=19456,t=100000,p=1$" + salt + "$" + key},
		{"bad salt base64", "$argon2id$v=19$m=19456,t=2,p=1$!!!$" + key},
		{"short salt", "$argon2id$v=19$m=19456,t=2,p=1$" + base64.RawStdEncoding.EncodeToString([]byte("abc")) + "$" + key},
		{"padded salt", "$argon2id$v=19$m=19456,t=2,p=1$" + base64.StdEncoding.EncodeToString([]byte("0123456789abcde")) + "$" + key},
		{"bad hash base64", "$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$%%%"},
		{"empty hash", "$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if CheckPassword(tc.hash, "") || CheckPassword(tc.hash, "hunter2") {
				t.Fatal("a malformed hash matched")
			}
		})
	}
}

func TestDummyCheck(t *testing.T) {
	// Nothing to observe but that it runs with the current parameters without panicking.
	DummyCheck("anything")
}

func TestRefreshToken(t *testing.T) {
	token, hash, err := NewRefreshToken()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		t.Fatalf("token %q is not unpadded base64url: %v", token, err)
	}
	if len(raw) != 32 {
		t.Errorf("token holds %d bytes, want 32", len(raw))
	}
	want := sha256.Sum256([]byte(token))
	if string(hash) != string(want[:]) {
		t.Error("hash is not the sha256 of the token")
	}
	if string(HashRefreshToken(token)) != string(hash) {
		t.Error("HashRefreshToken disagrees with NewRefreshToken")
	}
	other, _, err := NewRefreshToken()
	if err != nil {
		t.Fatal(err)
	}
	if other == token {
		t.Error("two refresh tokens are equal")
	}
}

// A check against no hash (a provider-only account) costs what a real one does.
func TestCheckPasswordWithoutHashDerives(t *testing.T) {
	for _, encoded := range []string{"", "garbage"} {
		before := Derivations()
		if CheckPassword(encoded, "anything") {
			t.Fatalf("%q matched", encoded)
		}
		if n := Derivations() - before; n != 1 {
			t.Fatalf("checking against %q ran %d derivations, want 1", encoded, n)
		}
	}
}
