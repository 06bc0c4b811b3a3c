package service

import (
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/mtibben/confusables"
	"golang.org/x/text/unicode/norm"

	"inkwell/internal/apperr"
	"inkwell/internal/markdown"
)

// Input limits; schema.graphql documents each of them.
const (
	maxUsername    = 32
	maxEmail       = 254
	minPassword    = 8
	maxPassword    = 256
	maxBio         = 2000
	maxImage       = 2048
	maxTitle       = 255
	maxDescription = 1000
	maxBody        = 100_000
	maxTags        = 10
	maxTag         = 32
	maxComment     = 5000
	maxSlugBase    = 80
)

var (
	usernameRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	tagRE      = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
)

func checkUsername(bad apperr.Fields, name string) {
	switch {
	case name == "":
		bad.Add("username", "can't be blank")
	case utf8.RuneCountInString(name) > maxUsername:
		bad.Add("username", fmt.Sprintf("is too long (at most %d characters)", maxUsername))
	case !usernameRE.MatchString(name):
		bad.Add("username", "may contain only letters, digits, _ and -")
	}
}

// normEmail lower-cases and trims an email address; checkEmail validates the result.
// normEmail is the form an address is stored and compared in: compatibility-normalised
// (NFKC: the full-width "ａ" is "a") and lower-cased, so that no other spelling of a
// taken address makes a second account.
func normEmail(email string) string {
	return strings.ToLower(norm.NFKC.String(strings.TrimSpace(email)))
}

// UsernameSkeleton is how a username looks: its Unicode UTS #39 skeleton (confusable
// characters mapped to one prototype: "0" to "O", "1" and "I" to "l", "m" to "rn"),
// lower-cased. Two names with one skeleton pass for each other, so a name whose skeleton
// is taken is refused (users.username_skeleton is unique). The migration that added the
// column computes the same for ASCII names in SQL.
func UsernameSkeleton(name string) string { return strings.ToLower(confusables.Skeleton(name)) }

// normUsername is a username as typed, compatibility-normalised (NFKC), so that the
// full-width or ligature form of a name is that name.
func normUsername(name string) string { return norm.NFKC.String(strings.TrimSpace(name)) }

func checkEmail(bad apperr.Fields, email string) {
	switch {
	case email == "":
		bad.Add("email", "can't be blank")
	case len(email) > maxEmail:
		bad.Add("email", fmt.Sprintf("is too long (at most %d characters)", maxEmail))
	default:
		addr, err := mail.ParseAddress(email)
		if err != nil || addr.Address != email || addr.Name != "" || !strings.Contains(email[strings.LastIndex(email, "@"):], ".") {
			bad.Add("email", "is invalid")
		}
	}
}

func checkPassword(bad apperr.Fields, pw string) {
	n := utf8.RuneCountInString(pw)
	switch {
	case n < minPassword:
		bad.Add("password", fmt.Sprintf("is too short (at least %d characters)", minPassword))
	case n > maxPassword:
		bad.Add("password", fmt.Sprintf("is too long (at most %d characters)", maxPassword))
	}
}

func checkLen(bad apperr.Fields, field, v string, minLen, maxLen int) {
	n := utf8.RuneCountInString(v)
	switch {
	case n < minLen && n == 0:
		bad.Add(field, "can't be blank")
	case n < minLen:
		bad.Add(field, fmt.Sprintf("is too short (at least %d characters)", minLen))
	case n > maxLen:
		bad.Add(field, fmt.Sprintf("is too long (at most %d characters)", maxLen))
	}
	if !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
		bad.Add(field, "contains invalid characters")
	}
}

// checkBody validates an article body, on create and on update alike: 1 to maxBody
// characters, not only white space (which would render to an empty page), and within
// the renderer's bounds (nesting, size). It returns the body rendered for the read
// model: rendering once here, outside the transaction, is what keeps every read cheap.
func checkBody(bad apperr.Fields, body string) markdown.Doc {
	checkLen(bad, "body", body, 1, maxBody)
	if body != "" && strings.TrimSpace(body) == "" {
		bad.Add("body", "can't be blank")
	}
	if len(bad["body"]) > 0 {
		return markdown.Doc{}
	}
	doc, err := markdown.Render(body)
	if le := (*markdown.LimitError)(nil); errors.As(err, &le) {
		bad.Add("body", le.Reason)
	}
	return doc
}

func checkImage(bad apperr.Fields, image string) { checkURL(bad, "image", image, maxImage) }

// checkURL accepts "" (none) or an absolute http or https URL of at most maxLen bytes.
func checkURL(bad apperr.Fields, field, v string, maxLen int) {
	if v == "" {
		return
	}
	if len(v) > maxLen {
		bad.Add(field, fmt.Sprintf("is too long (at most %d characters)", maxLen))
		return
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad.Add(field, "must be an http or https URL")
	}
}

// ArticleMeta is what an article says about itself beside its text; nil fields stay as
// they are in an update (empty clears).
type ArticleMeta struct {
	Subtitle, CanonicalURL, SeoTitle, SeoDescription *string
	// CoverImageAssetID is a COVER upload ("" for none).
	CoverImageAssetID *string
}

// check trims and validates m's fields, naming them as the schema does.
func (m *ArticleMeta) check(bad apperr.Fields) {
	for _, f := range []struct {
		v     **string
		field string
		max   int
	}{{&m.Subtitle, "subtitle", maxSubtitle}, {&m.SeoTitle, "seo.title", maxSeoTitle}, {&m.SeoDescription, "seo.description", maxSeoDescription}} {
		if *f.v != nil {
			t := strings.TrimSpace(**f.v)
			*f.v = &t
			checkLen(bad, f.field, t, 0, f.max)
		}
	}
	if m.CanonicalURL != nil {
		u := strings.TrimSpace(*m.CanonicalURL)
		m.CanonicalURL = &u
		checkURL(bad, "canonicalURL", u, maxCanonicalURL)
	}
}

// The metadata's bounds, as ent/schema's.
const (
	maxSubtitle       = 255
	maxCanonicalURL   = 2048
	maxSeoTitle       = 120
	maxSeoDescription = 320
)

// normTags normalises tag names (trimmed, lower case, inner spaces as "-"), drops
// duplicates and sorts them, so every write locks tag rows in the same order.
func normTags(bad apperr.Fields, tags []string) []string {
	seen := make(map[string]bool, len(tags))
	out := make([]string, 0, len(tags))
	for _, t := range tags {
		n := tagName(t)
		switch {
		case n == "":
			bad.Add("tags", "can't contain a blank tag")
			continue
		case len(n) > maxTag:
			bad.Add("tags", fmt.Sprintf("%q is too long (at most %d characters)", t, maxTag))
			continue
		case !tagRE.MatchString(n):
			bad.Add("tags", fmt.Sprintf("%q may contain only letters, digits and single dashes", t))
			continue
		}
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	if len(out) > maxTags {
		bad.Add("tags", fmt.Sprintf("has too many tags (at most %d)", maxTags))
	}
	sort.Strings(out)
	return out
}

// slugBase makes the readable part of a slug from a title: lower-case ASCII letters and
// digits joined by single dashes.
func slugBase(title string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(title) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(r)
		default:
			dash = true
		}
		if b.Len() >= maxSlugBase {
			break
		}
	}
	s := strings.TrimRight(b.String(), "-")
	if s == "" {
		return "article"
	}
	return s
}
