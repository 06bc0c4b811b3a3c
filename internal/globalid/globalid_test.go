package globalid_test

import (
	"encoding/base64"
	"math"
	"strconv"
	"testing"

	"inkwell/internal/globalid"
)

func TestGlobalIDRoundTrip(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, typ := range []string{globalid.TypeUser, globalid.TypeArticle, globalid.TypeComment} {
		for _, id := range []int{1, 2, 42, 1_000_000, math.MaxInt64} {
			gid := globalid.Encode(typ, id)
			if seen[gid] {
				t.Errorf("Encode(%s, %d) = %q, already made for another object", typ, id, gid)
			}
			seen[gid] = true
			gotTyp, gotID, ok := globalid.Decode(gid)
			if !ok || gotTyp != typ || gotID != id {
				t.Errorf("Decode(Encode(%s, %d)) = %q, %d, %v", typ, id, gotTyp, gotID, ok)
			}
		}
	}
}

func TestGlobalIDIsOpaqueAndURLSafe(t *testing.T) {
	t.Parallel()
	gid := globalid.Encode(globalid.TypeArticle, 12345)
	for _, c := range gid {
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '-' && c != '_' {
			t.Fatalf("global id %q has %q, not URL-safe", gid, c)
		}
	}
	if gid == "Article:12345" || gid == "12345" {
		t.Fatalf("global id %q is not opaque", gid)
	}
}

func TestGlobalIDDecodeRejects(t *testing.T) {
	t.Parallel()
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	valid := globalid.Encode(globalid.TypeUser, 12) // "User:12", 7 bytes: 4 spare bits at the end
	for _, tc := range []struct {
		name, gid string
	}{
		{"empty", ""},
		{"not base64", "User:1"},
		{"garbage", "!!!!"},
		{"plain number", enc("1")},
		{"no separator", enc("User1")},
		{"no id", enc("User:")},
		{"no type", enc(":1")},
		{"zero id", enc("User:0")},
		{"negative id", enc("Article:-1")},
		{"id not a number", enc("Comment:one")},
		{"id with junk", enc("User:1:2")},
		{"id with space", enc("User: 1")},
		{"id with plus sign", enc("User:+1")},
		{"id with leading zero", enc("User:01")},
		{"id overflows", enc("User:" + strconv.FormatUint(math.MaxUint64, 10))},
		{"unknown type", enc("Tag:1")},
		{"type in lower case", enc("user:1")},
		{"padded encoding", base64.URLEncoding.EncodeToString([]byte("User:12"))},
		// Base64 decoding alone lets these through: two spellings of one object.
		{"spare bits set", valid[:len(valid)-1] + string(valid[len(valid)-1]+1)},
		{"line break inside", valid[:4] + "\n" + valid[4:]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if typ, id, ok := globalid.Decode(tc.gid); ok || typ != "" || id != 0 {
				t.Fatalf("Decode(%q) = %q, %d, %v; want rejected", tc.gid, typ, id, ok)
			}
		})
	}
}
