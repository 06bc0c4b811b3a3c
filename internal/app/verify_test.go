package app_test

import (
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"inkwell/internal/apptest"
	"inkwell/internal/config"
	"inkwell/internal/mailtest"
	"inkwell/internal/oauthtest"
)

var linkRE = regexp.MustCompile(`https?://\S+/auth/verify-email\?token=\S+`)

// link is the verification link in the newest message to address, after n have come.
func link(t *testing.T, mp *mailtest.Server, address string, n int) string {
	t.Helper()
	msgs := mp.Wait(t, address, n)
	l := linkRE.FindString(msgs[0].Text)
	if l == "" {
		t.Fatalf("no verification link in %q", msgs[0].Text)
	}
	return l
}

func tokenOf(t *testing.T, link string) string {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("token")
}

func emailVerified(t *testing.T, e *apptest.Env, token string) bool {
	t.Helper()
	var out struct {
		Viewer struct{ EmailVerified bool }
	}
	e.MustQuery(t, token, `{ viewer { emailVerified } }`, nil, &out)
	return out.Viewer.EmailVerified
}

// page sends a request to the verification page and returns its status and text.
func page(t *testing.T, method, target string, form url.Values) (int, string) {
	t.Helper()
	var res *http.Response
	var err error
	if method == http.MethodPost {
		res, err = http.PostForm(target, form)
	} else {
		res, err = http.Get(target)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// Finding 3's fix: a signed-up address is verified through a single-use, expiring link
// mailed through a real SMTP server; then, and only then, a provider may join the account.
func TestEmailVerification(t *testing.T) {
	mp := mailtest.Start(t)
	e, p := oaEnv(t, apptest.WithConfig(func(c *config.Config) { c.SMTPURL = mp.SMTPURL() }))
	alice := e.SignUp(t, "alice")
	l := link(t, mp, "alice@example.com", 1)
	if !strings.HasPrefix(l, e.URL+"/auth/verify-email?token=") {
		t.Fatalf("link %q is not on the server's verification page", l)
	}
	if emailVerified(t, e, alice.Token) {
		t.Fatal("verified before the link was opened")
	}

	// Opening the link only shows a button: a mail scanner's visit spends nothing.
	status, body := page(t, http.MethodGet, l, nil)
	if status != http.StatusOK || !strings.Contains(body, `method="post"`) || emailVerified(t, e, alice.Token) {
		t.Fatalf("GET the link: %d, verified %v, page %q", status, emailVerified(t, e, alice.Token), body)
	}
	form := url.Values{"token": {tokenOf(t, l)}}
	if status, body = page(t, http.MethodPost, e.URL+"/auth/verify-email", form); status != http.StatusOK || !strings.Contains(body, "confirmed") {
		t.Fatalf("confirming: %d %q", status, body)
	}
	if !emailVerified(t, e, alice.Token) {
		t.Fatal("not verified after confirming")
	}
	if status, _ = page(t, http.MethodPost, e.URL+"/auth/verify-email", form); status != http.StatusBadRequest {
		t.Fatalf("the same link twice: %d, want 400", status)
	}

	var sent struct{ SendVerificationEmail struct{ Sent bool } }
	e.MustQuery(t, alice.Token, `mutation { sendVerificationEmail { sent } }`, nil, &sent)
	if sent.SendVerificationEmail.Sent {
		t.Fatal("a link was sent for a verified address")
	}

	t.Run("a verified account receives its owner's provider account", func(t *testing.T) {
		p.SetUser(oauthtest.User{Subject: "901", Login: "alice-gh", Email: "alice@example.com", EmailVerified: true})
		if a := oaSession(t, e, "github"); a.User.ID != alice.ID {
			t.Fatalf("provider sign-in landed in %s, want alice %s", a.User.ID, alice.ID)
		}
	})

	t.Run("a new address needs a new link; the old link is dead", func(t *testing.T) {
		var upd struct {
			UpdateViewer struct{ User struct{ ID string } }
		}
		e.MustQuery(t, alice.Token, `mutation($p: String!) { updateViewer(input: {email: "alice@new.example", currentPassword: $p}) { user { id } } }`,
			map[string]any{"p": alice.Password}, &upd)
		// Pending: the verified address stays the account's until the new one is proven.
		if !emailVerified(t, e, alice.Token) {
			t.Fatal("a pending change unverified the current address")
		}
		nl := link(t, mp, "alice@new.example", 1)
		r := e.Query(t, "", `mutation($t: String!) { verifyEmail(input: {token: $t}) { user { id } } }`, map[string]any{"t": tokenOf(t, l)})
		if r.Code() != "BAD_USER_INPUT" {
			t.Fatalf("the first address's link: %s, want BAD_USER_INPUT", r.Body)
		}
		// Anonymous: the link may be opened on another device.
		var out struct {
			VerifyEmail struct{ User struct{ ID string } }
		}
		e.MustQuery(t, "", `mutation($t: String!) { verifyEmail(input: {token: $t}) { user { id } } }`, map[string]any{"t": tokenOf(t, nl)}, &out)
		if out.VerifyEmail.User.ID != alice.ID || !emailVerified(t, e, alice.Token) {
			t.Fatalf("verifyEmail answered %+v; verified %v", out, emailVerified(t, e, alice.Token))
		}
		var v struct {
			Viewer struct{ Email, PendingEmail *string }
		}
		e.MustQuery(t, alice.Token, `{ viewer { email pendingEmail } }`, nil, &v)
		if v.Viewer.Email == nil || *v.Viewer.Email != "alice@new.example" || v.Viewer.PendingEmail != nil {
			t.Fatalf("after verifying: %+v, want the new address and nothing pending", v.Viewer)
		}
	})

	t.Run("a link asked for again replaces the earlier one, and expires", func(t *testing.T) {
		bob := e.SignUp(t, "bob")
		first := link(t, mp, "bob@example.com", 1)
		e.MustQuery(t, bob.Token, `mutation { sendVerificationEmail { sent } }`, nil, &sent)
		if !sent.SendVerificationEmail.Sent {
			t.Fatal("no new link sent")
		}
		second := link(t, mp, "bob@example.com", 2)
		if first == second {
			t.Fatal("the new link is the old one")
		}
		verify := func(l string) string {
			return e.Query(t, "", `mutation($t: String!) { verifyEmail(input: {token: $t}) { user { id } } }`,
				map[string]any{"t": tokenOf(t, l)}).Code()
		}
		if code := verify(first); code != "BAD_USER_INPUT" {
			t.Fatalf("the replaced link: %q, want BAD_USER_INPUT", code)
		}
		if _, err := e.DB.Exec(`UPDATE users SET email_token_expires_at = now() - interval '1 second' WHERE username = 'bob'`); err != nil {
			t.Fatal(err)
		}
		if code := verify(second); code != "BAD_USER_INPUT" || emailVerified(t, e, bob.Token) {
			t.Fatalf("an expired link: %q, want BAD_USER_INPUT and still unverified", code)
		}
	})
}
