package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"

	"golang.org/x/crypto/argon2"
)

// Argon2Params are the argon2id cost parameters used for new password hashes.
type Argon2Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes over memory
	Threads uint8
	SaltLen uint32 // bytes
	KeyLen  uint32 // bytes
}

// PasswordParams are the parameters HashPassword and DummyCheck use: the OWASP minimums for
// argon2id. Tests may lower them (before hashing anything, e.g. in TestMain) to run faster;
// hashes record their own parameters, so raising them later leaves old hashes checkable.
var PasswordParams = Argon2Params{
	Memory:  19 * 1024,
	Time:    2,
	Threads: 1,
	SaltLen: 16,
	KeyLen:  32,
}

// Limits on parameters read back from a stored hash, so that a corrupt or hostile value
// cannot make one check allocate gigabytes or spin for minutes.
const (
	maxMemory = 256 * 1024
	maxTime   = 16
	minSalt   = 8
	minKey    = 16
	maxKey    = 64
)

var b64 = base64.RawStdEncoding.Strict()

// HashPassword hashes pw with argon2id and a random salt, in the PHC string format
// $argon2id$v=19$m=<KiB>,t=<time>,p=<threads>$<salt>$<hash>.
func HashPassword(pw string) (string, error) {
	p := PasswordParams
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("read salt: %w", err)
	}
	key := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// CheckPassword reports whether pw matches encoded, a hash from HashPassword. A malformed
// hash never matches.
//
// An account without a password (signed up through a provider) has no hash: the check
// then costs a full derivation anyway, so that the response time does not tell such
// accounts from others.
func CheckPassword(encoded, pw string) bool {
	p, salt, want, ok := decodeHash(encoded)
	if !ok {
		DummyCheck(pw)
		return false
	}
	derivations.Add(1)
	got := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return subtle.ConstantTimeCompare(got, want) == 1
}

// derivations counts the password derivations of checks, real and dummy.
var derivations atomic.Uint64

// Derivations is how many password checks (real or dummy) ran a full derivation since
// the process started: tests prove with it that every sign-in path pays the same.
func Derivations() uint64 { return derivations.Load() }

// DummyCheck does the work of a CheckPassword against a hash made with PasswordParams and
// discards the result. Sign-in calls it for an unknown email so that the response time does
// not reveal which accounts exist.
func DummyCheck(pw string) {
	derivations.Add(1)
	p := PasswordParams
	salt := make([]byte, p.SaltLen)
	_ = argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
}

func decodeHash(encoded string) (p Argon2Params, salt, key []byte, ok bool) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, nil, nil, false
	}
	nums := strings.Split(parts[3], ",")
	if len(nums) != 3 {
		return p, nil, nil, false
	}
	m, okM := param(nums[0], "m=", 32)
	t, okT := param(nums[1], "t=", 32)
	th, okP := param(nums[2], "p=", 8)
	if !okM || !okT || !okP {
		return p, nil, nil, false
	}
	p = Argon2Params{Memory: uint32(m), Time: uint32(t), Threads: uint8(th)}
	// argon2 panics on zero time or threads and needs 8 KiB of memory per thread.
	if p.Time < 1 || p.Time > maxTime || p.Threads < 1 || p.Memory < 8*uint32(p.Threads) || p.Memory > maxMemory {
		return p, nil, nil, false
	}
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) < minSalt {
		return p, nil, nil, false
	}
	key, err = b64.DecodeString(parts[5])
	if err != nil || len(key) < minKey || len(key) > maxKey {
		return p, nil, nil, false
	}
	p.SaltLen, p.KeyLen = uint32(len(salt)), uint32(len(key))
	return p, salt, key, true
}

func param(s, prefix string, bits int) (uint64, bool) {
	digits, ok := strings.CutPrefix(s, prefix)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(digits, 10, bits)
	return n, err == nil
}
