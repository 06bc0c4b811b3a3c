package app_test

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"inkwell/internal/apptest"
	"inkwell/internal/globalid"
)

// acctAuth is an AuthPayload as the wire carries it.
type acctAuth struct {
	AccessToken  string
	RefreshToken string
	ExpiresAt    string
	User         acctUser
}

// acctUser is the part of a User these tests read.
type acctUser struct {
	ID       string
	Username string
	Email    *string
	Bio      string
	Image    *string
}

const acctUserFields = `id username email bio image`

const acctAuthFields = `accessToken refreshToken expiresAt user { ` + acctUserFields + ` }`

func acctSignUp(t *testing.T, e *apptest.Env, username, email, password string) *apptest.Response {
	t.Helper()
	return e.Query(t, "", `mutation($in: SignUpInput!) { signUp(input: $in) { `+acctAuthFields+` } }`,
		map[string]any{"in": map[string]any{"username": username, "email": email, "password": password}})
}

func acctSignIn(t *testing.T, e *apptest.Env, email, password string) *apptest.Response {
	t.Helper()
	return e.Query(t, "", `mutation($in: SignInInput!) { signIn(input: $in) { `+acctAuthFields+` } }`,
		map[string]any{"in": map[string]any{"email": email, "password": password}})
}

// acctPayload decodes the AuthPayload under field, failing on any error.
func acctPayload(t *testing.T, r *apptest.Response, field string) acctAuth {
	t.Helper()
	var out map[string]acctAuth
	r.Decode(t, &out)
	p, ok := out[field]
	if !ok || p.AccessToken == "" || p.RefreshToken == "" {
		t.Fatalf("%s: no tokens in %s", field, r.Body)
	}
	return p
}

// acctViewer returns the viewer as token sees it, nil for anonymous.
func acctViewer(t *testing.T, e *apptest.Env, token string) *acctUser {
	t.Helper()
	var out struct{ Viewer *acctUser }
	e.MustQuery(t, token, `{ viewer { `+acctUserFields+` } }`, nil, &out)
	return out.Viewer
}

// acctWantCode fails unless r failed with exactly one error coded code and no data.
func acctWantCode(t *testing.T, r *apptest.Response, code string) {
	t.Helper()
	if len(r.Errors) != 1 || r.Code() != code {
		t.Fatalf("want one %s error, got %d %s", code, r.Status, r.Body)
	}
	if len(r.Data) != 0 && string(r.Data) != "null" {
		t.Fatalf("want no data with %s, got %s", code, r.Data)
	}
}

// acctWantFields fails unless r is BAD_USER_INPUT naming exactly fields, each with a
// problem.
func acctWantFields(t *testing.T, r *apptest.Response, fields ...string) {
	t.Helper()
	acctWantCode(t, r, "BAD_USER_INPUT")
	got := r.Errors[0].Extensions.Fields
	if keys := slices.Sorted(maps.Keys(got)); !slices.Equal(keys, slices.Sorted(slices.Values(fields))) {
		t.Fatalf("fields = %v, want %v\n%s", keys, fields, r.Body)
	}
	for f, problems := range got {
		if len(problems) == 0 || problems[0] == "" {
			t.Fatalf("field %s has no problem: %s", f, r.Body)
		}
	}
}

// acctUnchanged fails when the row counts differ from before.
func acctUnchanged(t *testing.T, e *apptest.Env, before map[string]int) {
	t.Helper()
	if after := e.Snapshot(t); !maps.Equal(before, after) {
		t.Fatalf("a failed write changed rows: before %v, after %v", before, after)
	}
}

func TestAccountSignUp(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	start := time.Now()
	p := acctPayload(t, acctSignUp(t, e, "Alice", "  Alice@Example.COM ", "correct horse"), "signUp")

	exp, err := time.Parse(time.RFC3339, p.ExpiresAt)
	if err != nil {
		t.Fatalf("expiresAt %q is not RFC 3339: %v", p.ExpiresAt, err)
	}
	if !exp.After(start) || exp.After(start.Add(e.Config.AccessTTL+time.Minute)) {
		t.Fatalf("expiresAt = %s, want about %s from %s", exp, e.Config.AccessTTL, start)
	}
	if p.AccessToken == p.RefreshToken {
		t.Fatal("access and refresh token are the same")
	}
	if p.User.Username != "Alice" || p.User.Email == nil || *p.User.Email != "alice@example.com" {
		t.Fatalf("user = %+v (email %v), want Alice with alice@example.com", p.User, p.User.Email)
	}
	if p.User.Bio != "" || p.User.Image != nil {
		t.Fatalf("new user has bio %q image %v, want empty", p.User.Bio, p.User.Image)
	}
	if typ, _, ok := globalid.Decode(p.User.ID); !ok || typ != globalid.TypeUser {
		t.Fatalf("user id %q is not a User global id", p.User.ID)
	}
	v := acctViewer(t, e, p.AccessToken)
	if v == nil || v.ID != p.User.ID || v.Username != "Alice" {
		t.Fatalf("viewer with the new token = %+v", v)
	}
	if n := e.Count(t, "users"); n != 1 {
		t.Fatalf("users = %d, want 1", n)
	}
	if n := e.Count(t, "refresh_tokens"); n != 1 {
		t.Fatalf("refresh_tokens = %d, want 1", n)
	}
}

func TestAccountSignUpInvalid(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	e.SignUp(t, "alice")
	const okName, okEmail, okPassword = "bob", "bob@example.com", "long enough"
	for _, tc := range []struct {
		name                      string
		username, email, password string
		want                      []string
	}{
		{"blank username", "", okEmail, okPassword, []string{"username"}},
		{"space in username", "bob smith", okEmail, okPassword, []string{"username"}},
		{"username too long", strings.Repeat("b", 33), okEmail, okPassword, []string{"username"}},
		{"blank email", okName, "  ", okPassword, []string{"email"}},
		{"email without at", okName, "bob.example.com", okPassword, []string{"email"}},
		{"email without a dot in the domain", okName, "bob@localhost", okPassword, []string{"email"}},
		{"email with a display name", okName, "Bob <bob@example.com>", okPassword, []string{"email"}},
		{"password too short", okName, okEmail, "1234567", []string{"password"}},
		{"password too long", okName, okEmail, strings.Repeat("p", 257), []string{"password"}},
		{"username and password", "b@d", okEmail, "short", []string{"username", "password"}},
		{"all three", "", "nope", "", []string{"username", "email", "password"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.Snapshot(t)
			acctWantFields(t, acctSignUp(t, e, tc.username, tc.email, tc.password), tc.want...)
			acctUnchanged(t, e, before)
		})
	}
	// The limits are inclusive: the longest name and shortest password are fine.
	acctPayload(t, acctSignUp(t, e, strings.Repeat("b", 32), okEmail, "12345678"), "signUp")
}

func TestAccountSignUpTaken(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	e.SignUp(t, "alice") // alice@example.com
	for _, tc := range []struct {
		name, username, email string
		want                  map[string][]string
	}{
		{"username in another case", "Alice", "other@example.com",
			map[string][]string{"username": {"is already taken"}}},
		{"username in upper case", "ALICE", "other@example.com",
			map[string][]string{"username": {"is already taken"}}},
		{"email in another case", "bob", "ALICE@Example.com",
			map[string][]string{"email": {"is already taken"}}},
		{"both", "aLiCe", "alice@EXAMPLE.com",
			map[string][]string{"username": {"is already taken"}, "email": {"is already taken"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.Snapshot(t)
			r := acctSignUp(t, e, tc.username, tc.email, "long enough")
			acctWantCode(t, r, "BAD_USER_INPUT")
			if got := r.Errors[0].Extensions.Fields; !maps.EqualFunc(got, tc.want, slices.Equal) {
				t.Fatalf("fields = %v, want %v", got, tc.want)
			}
			acctUnchanged(t, e, before)
		})
	}
}

func TestAccountSignIn(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	alice := e.SignUp(t, "Alice") // alice@example.com
	for _, email := range []string{"alice@example.com", "ALICE@EXAMPLE.COM", "Alice@Example.com", " alice@example.com "} {
		t.Run(email, func(t *testing.T) {
			p := acctPayload(t, acctSignIn(t, e, email, alice.Password), "signIn")
			if p.User.ID != alice.ID || p.User.Username != "Alice" || p.User.Email == nil || *p.User.Email != "alice@example.com" {
				t.Fatalf("signed in as %+v", p.User)
			}
			if _, err := time.Parse(time.RFC3339, p.ExpiresAt); err != nil {
				t.Fatalf("expiresAt %q: %v", p.ExpiresAt, err)
			}
			if v := acctViewer(t, e, p.AccessToken); v == nil || v.ID != alice.ID {
				t.Fatalf("viewer = %+v, want alice", v)
			}
		})
	}
}

func TestAccountSignInFails(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	alice := e.SignUp(t, "alice")
	var messages []string
	for _, tc := range []struct{ name, email, password string }{
		{"wrong password", alice.Email, alice.Password + "x"},
		{"password in another case", alice.Email, strings.ToUpper(alice.Password)},
		{"unknown email", "nobody@example.com", alice.Password},
		{"empty password", alice.Email, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.Snapshot(t)
			r := acctSignIn(t, e, tc.email, tc.password)
			acctWantCode(t, r, "UNAUTHENTICATED")
			messages = append(messages, r.Errors[0].Message)
			acctUnchanged(t, e, before)
		})
	}
	// Which of email and password was wrong must not show.
	if len(slices.Compact(slices.Clone(messages))) != 1 {
		t.Fatalf("failures give different messages: %q", messages)
	}
}

func TestAccountViewer(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	alice := e.SignUp(t, "alice")
	bob := e.SignUp(t, "bob")

	t.Run("anonymous is null", func(t *testing.T) {
		r := e.Query(t, "", `{ viewer { id } }`, nil)
		if r.Status != 200 || len(r.Errors) != 0 || string(r.Data) != `{"viewer":null}` {
			t.Fatalf("got %d %s", r.Status, r.Body)
		}
	})
	for _, u := range []*apptest.User{alice, bob} {
		t.Run(u.Username+" sees themself", func(t *testing.T) {
			v := acctViewer(t, e, u.Token)
			if v == nil || v.ID != u.ID || v.Username != u.Username || v.Email == nil || *v.Email != u.Email {
				t.Fatalf("viewer = %+v, want %s with %s", v, u.Username, u.Email)
			}
		})
	}
}

func TestAccountUserByUsername(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	alice := e.SignUp(t, "Alice")
	bob := e.SignUp(t, "bob")
	const q = `query($u: String!) { user(username: $u) { ` + acctUserFields + ` } }`
	for _, tc := range []struct {
		name, token, username string
		wantID                string // "" for null
		wantEmail             *string
	}{
		{"anonymous, exact case", "", "Alice", alice.ID, nil},
		{"anonymous, lower case", "", "alice", alice.ID, nil},
		{"anonymous, upper case", "", "ALICE", alice.ID, nil},
		{"someone else sees no email", bob.Token, "alice", alice.ID, nil},
		{"the user sees their email", alice.Token, "ALICE", alice.ID, &alice.Email},
		{"unknown is null", "", "carol", "", nil},
		{"unknown is null signed in", alice.Token, "carol", "", nil},
		{"empty name is null", "", "", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out struct{ User *acctUser }
			e.MustQuery(t, tc.token, q, map[string]any{"u": tc.username}, &out)
			if tc.wantID == "" {
				if out.User != nil {
					t.Fatalf("user = %+v, want null", out.User)
				}
				return
			}
			if out.User == nil || out.User.ID != tc.wantID || out.User.Username != "Alice" {
				t.Fatalf("user = %+v, want Alice", out.User)
			}
			switch {
			case tc.wantEmail == nil && out.User.Email != nil:
				t.Fatalf("email = %q, want null", *out.User.Email)
			case tc.wantEmail != nil && (out.User.Email == nil || *out.User.Email != *tc.wantEmail):
				t.Fatalf("email = %v, want %q", out.User.Email, *tc.wantEmail)
			}
		})
	}
}

// acctUpdate runs updateViewer with in as token.
func acctUpdate(t *testing.T, e *apptest.Env, token string, in map[string]any) *apptest.Response {
	t.Helper()
	return e.Query(t, token, `mutation($in: UpdateViewerInput!) { updateViewer(input: $in) { user { `+acctUserFields+` } } }`,
		map[string]any{"in": in})
}

func acctUpdated(t *testing.T, r *apptest.Response) acctUser {
	t.Helper()
	var out struct{ UpdateViewer struct{ User acctUser } }
	r.Decode(t, &out)
	return out.UpdateViewer.User
}

func TestAccountUpdateViewerAnonymous(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	e.SignUp(t, "alice")
	before := e.Snapshot(t)
	acctWantCode(t, acctUpdate(t, e, "", map[string]any{"bio": "hi"}), "UNAUTHENTICATED")
	acctUnchanged(t, e, before)
	var out struct{ User acctUser }
	e.MustQuery(t, "", `{ user(username: "alice") { `+acctUserFields+` } }`, nil, &out)
	if out.User.Bio != "" {
		t.Fatalf("bio = %q after an anonymous update", out.User.Bio)
	}
}

func TestAccountUpdateViewer(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	alice := e.SignUp(t, "alice")
	str := func(s string) *string { return &s }

	// Each step starts from the previous one's result.
	for _, step := range []struct {
		name string
		in   map[string]any
		want acctUser // ID is ignored
	}{
		{"bio and image", map[string]any{"bio": "Writes about Go.", "image": "https://img.example.com/a.png"},
			acctUser{Username: "alice", Email: str("alice@example.com"), Bio: "Writes about Go.", Image: str("https://img.example.com/a.png")}},
		{"omitted fields keep their value", map[string]any{},
			acctUser{Username: "alice", Email: str("alice@example.com"), Bio: "Writes about Go.", Image: str("https://img.example.com/a.png")}},
		{"null fields keep their value", map[string]any{"bio": nil, "image": nil, "username": nil, "email": nil, "password": nil},
			acctUser{Username: "alice", Email: str("alice@example.com"), Bio: "Writes about Go.", Image: str("https://img.example.com/a.png")}},
		{"username", map[string]any{"username": "Alice_2"},
			acctUser{Username: "Alice_2", Email: str("alice@example.com"), Bio: "Writes about Go.", Image: str("https://img.example.com/a.png")}},
		{"own username in another case", map[string]any{"username": "alice_2"},
			acctUser{Username: "alice_2", Email: str("alice@example.com"), Bio: "Writes about Go.", Image: str("https://img.example.com/a.png")}},
		// A new address waits for its verification (pendingEmail, below).
		{"email is lower-cased", map[string]any{"email": " Alice@New.Example.org ", "currentPassword": alice.Password},
			acctUser{Username: "alice_2", Email: str("alice@example.com"), Bio: "Writes about Go.", Image: str("https://img.example.com/a.png")}},
		{"empty image clears it", map[string]any{"image": ""},
			acctUser{Username: "alice_2", Email: str("alice@example.com"), Bio: "Writes about Go."}},
		{"empty bio clears it", map[string]any{"bio": ""},
			acctUser{Username: "alice_2", Email: str("alice@example.com")}},
		{"http image", map[string]any{"image": "http://img.example.com/b.png"},
			acctUser{Username: "alice_2", Email: str("alice@example.com"), Image: str("http://img.example.com/b.png")}},
	} {
		t.Run(step.name, func(t *testing.T) {
			got := acctUpdated(t, acctUpdate(t, e, alice.Token, step.in))
			// The payload and a later read agree: the change is stored, not just echoed.
			stored := acctViewer(t, e, alice.Token)
			for name, u := range map[string]*acctUser{"payload": &got, "viewer": stored} {
				if u == nil {
					t.Fatalf("%s: null", name)
				}
				if u.ID != alice.ID {
					t.Fatalf("%s: id = %s, want %s", name, u.ID, alice.ID)
				}
				u.ID = ""
				if !acctSameUser(*u, step.want) {
					t.Fatalf("%s = %s, want %s", name, acctShow(*u), acctShow(step.want))
				}
			}
		})
	}

	// The new username and email are the account's: lookup and sign-in use them.
	var out struct{ User *acctUser }
	e.MustQuery(t, "", `{ user(username: "ALICE_2") { id } }`, nil, &out)
	if out.User == nil || out.User.ID != alice.ID {
		t.Fatalf("user(ALICE_2) = %+v", out.User)
	}
	e.MustQuery(t, "", `{ user(username: "alice") { id } }`, nil, &out)
	if out.User != nil {
		t.Fatalf("old username still finds %+v", out.User)
	}
	var pending struct {
		Viewer struct{ PendingEmail *string }
	}
	e.MustQuery(t, alice.Token, `{ viewer { pendingEmail } }`, nil, &pending)
	if p := pending.Viewer.PendingEmail; p == nil || *p != "alice@new.example.org" {
		t.Fatalf("pendingEmail = %v, want alice@new.example.org", p)
	}
	// Until it is verified the account signs in with the address it had.
	acctPayload(t, acctSignIn(t, e, alice.Email, alice.Password), "signIn")
	acctWantCode(t, acctSignIn(t, e, "alice@new.example.org", alice.Password), "UNAUTHENTICATED")
}

func acctSameUser(a, b acctUser) bool {
	eq := func(x, y *string) bool { return (x == nil) == (y == nil) && (x == nil || *x == *y) }
	return a.ID == b.ID && a.Username == b.Username && a.Bio == b.Bio && eq(a.Email, b.Email) && eq(a.Image, b.Image)
}

func acctShow(u acctUser) string {
	b, _ := json.Marshal(u)
	return string(b)
}

func TestAccountUpdateViewerInvalid(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	alice := e.SignUp(t, "alice")
	bob := e.SignUp(t, "bob")
	acctUpdated(t, acctUpdate(t, e, alice.Token, map[string]any{"bio": "original", "image": "https://example.com/a.png"}))
	want := acctViewer(t, e, alice.Token)

	for _, tc := range []struct {
		name   string
		in     map[string]any
		fields []string
	}{
		{"javascript image", map[string]any{"image": "javascript:alert(1)"}, []string{"image"}},
		{"data image", map[string]any{"image": "data:image/png;base64,AAAA"}, []string{"image"}},
		{"ftp image", map[string]any{"image": "ftp://example.com/a.png"}, []string{"image"}},
		{"image without host", map[string]any{"image": "https:///a.png"}, []string{"image"}},
		{"relative image", map[string]any{"image": "/a.png"}, []string{"image"}},
		{"image too long", map[string]any{"image": "https://example.com/" + strings.Repeat("a", 2048)}, []string{"image"}},
		{"bio too long", map[string]any{"bio": strings.Repeat("b", 2001)}, []string{"bio"}},
		{"blank username", map[string]any{"username": " "}, []string{"username"}},
		{"bad username", map[string]any{"username": "al ice"}, []string{"username"}},
		{"blank email", map[string]any{"email": "", "currentPassword": alice.Password}, []string{"email"}},
		{"bad email", map[string]any{"email": "alice@", "currentPassword": alice.Password}, []string{"email"}},
		{"short password", map[string]any{"password": "short", "currentPassword": alice.Password}, []string{"password"}},
		{"new password without the current one", map[string]any{"password": "a new password"}, []string{"currentPassword"}},
		{"new email without the current password", map[string]any{"email": "alice@new.example", "currentPassword": ""}, []string{"currentPassword"}},
		{"everything at once",
			map[string]any{"username": "a b", "email": "x", "password": "", "bio": strings.Repeat("b", 2001), "image": "javascript:x"},
			[]string{"username", "email", "password", "bio", "image", "currentPassword"}},
		{"valid fields do not rescue a bad one", map[string]any{"bio": "new", "image": "javascript:x"}, []string{"image"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.Snapshot(t)
			acctWantFields(t, acctUpdate(t, e, alice.Token, tc.in), tc.fields...)
			acctUnchanged(t, e, before)
			if got := acctViewer(t, e, alice.Token); got == nil || !acctSameUser(*got, *want) {
				t.Fatalf("viewer changed: %+v, want %+v", got, want)
			}
		})
	}

	for _, tc := range []struct {
		name string
		in   map[string]any
		want map[string][]string
	}{
		{"someone else's username", map[string]any{"username": "bob", "bio": "new"},
			map[string][]string{"username": {"is already taken"}}},
		{"someone else's username in another case", map[string]any{"username": "BOB"},
			map[string][]string{"username": {"is already taken"}}},
		{"someone else's email in another case", map[string]any{"email": "Bob@Example.com", "currentPassword": alice.Password},
			map[string][]string{"email": {"is already taken"}}},
		{"both", map[string]any{"username": "Bob", "email": bob.Email, "password": "a new password", "currentPassword": alice.Password},
			map[string][]string{"username": {"is already taken"}, "email": {"is already taken"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.Snapshot(t)
			r := acctUpdate(t, e, alice.Token, tc.in)
			acctWantCode(t, r, "BAD_USER_INPUT")
			if got := r.Errors[0].Extensions.Fields; !maps.EqualFunc(got, tc.want, slices.Equal) {
				t.Fatalf("fields = %v, want %v", got, tc.want)
			}
			acctUnchanged(t, e, before)
			if got := acctViewer(t, e, alice.Token); got == nil || !acctSameUser(*got, *want) {
				t.Fatalf("viewer changed: %+v, want %+v", got, want)
			}
			if got := acctViewer(t, e, bob.Token); got == nil || got.Username != "bob" || got.Email == nil || *got.Email != bob.Email {
				t.Fatalf("bob changed: %+v", got)
			}
		})
	}
	// A failed password change leaves the old password and the sessions working.
	acctPayload(t, acctSignIn(t, e, alice.Email, alice.Password), "signIn")
	acctPayload(t, tokRefresh(t, e, alice.RefreshToken), "refreshSession")
}

func TestAccountUpdateViewerPassword(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	alice := e.SignUp(t, "alice")
	bob := e.SignUp(t, "bob")
	second := acctPayload(t, acctSignIn(t, e, alice.Email, alice.Password), "signIn")
	rotated := acctPayload(t, tokRefresh(t, e, second.RefreshToken), "refreshSession")

	acctUpdated(t, acctUpdate(t, e, alice.Token, map[string]any{"password": "a brand new password", "currentPassword": alice.Password}))

	// Every other session of the account ends, also one rotated since its sign-in, and
	// its access token with it; the session that changed the password goes on.
	acctWantCode(t, tokRefresh(t, e, rotated.RefreshToken), "UNAUTHENTICATED")
	tokWant401(t, e.Query(t, rotated.AccessToken, `{ viewer { id } }`, nil))
	if v := acctViewer(t, e, alice.Token); v == nil || v.ID != alice.ID {
		t.Fatalf("the changing session's token: viewer %+v", v)
	}
	acctPayload(t, tokRefresh(t, e, alice.RefreshToken), "refreshSession")
	acctWantCode(t, acctSignIn(t, e, alice.Email, alice.Password), "UNAUTHENTICATED")
	p := acctPayload(t, acctSignIn(t, e, alice.Email, "a brand new password"), "signIn")
	if p.User.ID != alice.ID {
		t.Fatalf("signed in as %s, want %s", p.User.ID, alice.ID)
	}
	acctPayload(t, tokRefresh(t, e, p.RefreshToken), "refreshSession")
	// Other accounts keep their sessions.
	acctPayload(t, tokRefresh(t, e, bob.RefreshToken), "refreshSession")
}

func TestAccountSignUpConcurrent(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	const n = 10
	var (
		wg        sync.WaitGroup
		responses = make([]*apptest.Response, n)
		start     = make(chan struct{})
	)
	for i := range n {
		wg.Go(func() {
			<-start
			// Different emails, so only the username clashes.
			responses[i] = acctSignUp(t, e, "Racer", "racer"+string(rune('a'+i))+"@example.com", "long enough")
		})
	}
	close(start)
	wg.Wait()

	ok := 0
	for i, r := range responses {
		switch {
		case len(r.Errors) == 0:
			ok++
		case r.Code() == "BAD_USER_INPUT":
			want := map[string][]string{"username": {"is already taken"}}
			if got := r.Errors[0].Extensions.Fields; !maps.EqualFunc(got, want, slices.Equal) {
				t.Errorf("sign-up %d: fields = %v, want %v", i, got, want)
			}
		default:
			t.Errorf("sign-up %d: %d %s", i, r.Status, r.Body)
		}
	}
	if ok != 1 {
		t.Errorf("%d sign-ups succeeded, want 1", ok)
	}
	if got := e.Count(t, "users"); got != 1 {
		t.Errorf("users = %d, want 1", got)
	}
	if got := e.Count(t, "refresh_tokens"); got != 1 {
		t.Errorf("refresh_tokens = %d, want 1", got)
	}
}

func TestAccountNode(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	alice := e.SignUp(t, "alice")
	bob := e.SignUp(t, "bob")
	unknown := globalid.Encode(globalid.TypeUser, 1_000_000)

	t.Run("node", func(t *testing.T) {
		for _, tc := range []struct {
			name, id, want string // want "" for null
		}{
			{"alice", alice.ID, "alice"},
			{"bob", bob.ID, "bob"},
			{"unknown user", unknown, ""},
			{"not base64", "!!!", ""},
			{"empty", "", ""},
			{"a database id", "1", ""},
			{"unknown type", globalid.Encode("Secret", 1), ""},
			{"id zero", globalid.Encode(globalid.TypeUser, 0), ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var out struct {
					Node *struct{ Typename, ID, Username string }
				}
				e.MustQuery(t, "", `query($id: ID!) { node(id: $id) { typename: __typename id ... on User { username } } }`,
					map[string]any{"id": tc.id}, &out)
				if tc.want == "" {
					if out.Node != nil {
						t.Fatalf("node = %+v, want null", out.Node)
					}
					return
				}
				if out.Node == nil || out.Node.Typename != "User" || out.Node.ID != tc.id || out.Node.Username != tc.want {
					t.Fatalf("node = %+v, want User %s", out.Node, tc.want)
				}
			})
		}
	})

	t.Run("nodes keeps order", func(t *testing.T) {
		var out struct {
			Nodes []*struct{ Username string }
		}
		e.MustQuery(t, "", `query($ids: [ID!]!) { nodes(ids: $ids) { ... on User { username } } }`,
			map[string]any{"ids": []string{bob.ID, unknown, alice.ID, "garbage", bob.ID}}, &out)
		want := []string{"bob", "", "alice", "", "bob"}
		if len(out.Nodes) != len(want) {
			t.Fatalf("got %d nodes, want %d", len(out.Nodes), len(want))
		}
		for i, w := range want {
			switch n := out.Nodes[i]; {
			case w == "" && n != nil:
				t.Errorf("nodes[%d] = %+v, want null", i, n)
			case w != "" && (n == nil || n.Username != w):
				t.Errorf("nodes[%d] = %+v, want %s", i, n, w)
			}
		}
	})

	t.Run("email stays private through node", func(t *testing.T) {
		const q = `query($id: ID!) { node(id: $id) { ... on User { email } } }`
		for _, tc := range []struct {
			name, token string
			want        *string
		}{
			{"anonymous", "", nil},
			{"someone else", bob.Token, nil},
			{"the user", alice.Token, &alice.Email},
		} {
			var out struct{ Node struct{ Email *string } }
			e.MustQuery(t, tc.token, q, map[string]any{"id": alice.ID}, &out)
			if (out.Node.Email == nil) != (tc.want == nil) || (tc.want != nil && *out.Node.Email != *tc.want) {
				t.Errorf("%s: email = %v, want %v", tc.name, out.Node.Email, tc.want)
			}
		}
	})
}
