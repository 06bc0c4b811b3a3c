package app_test

import (
	"bytes"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"io"
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"

	"inkwell/internal/apptest"
	"inkwell/internal/config"
	"inkwell/internal/images"
	"inkwell/internal/s3test"
)

const (
	upRequest = `mutation($in: RequestUploadInput!) { requestUpload(input: $in) {
		uploadURL method headers { name value } expiresAt asset { id url width height contentType byteSize alt } } }`
	upCover = `mutation($in: CreateArticleInput!) { createArticle(input: $in) { article { slug
		coverImage { id url width height contentType byteSize alt } } } }`
)

type upAsset struct {
	ID, URL, ContentType, Alt string
	Width, Height             *int
	ByteSize                  int
}

type upTicket struct {
	UploadURL, Method, ExpiresAt string
	Headers                      []struct{ Name, Value string }
	Asset                        upAsset
}

// upLimits are small, so that a refusal for size or pixels needs no large image.
var upLimits = images.Limits{MaxBytes: 256 << 10, MaxPixels: 200 * 200, MaxSide: 400}

// pngWithText is a w×h PNG, left half red, with a tEXt chunk holding secret: metadata a
// clean copy must not keep.
func pngWithText(t *testing.T, w, h int, secret string) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for x := range w {
		for y := range h {
			c := color.NRGBA{0, 0, 255, 255}
			if x < w/2 {
				c = color.NRGBA{255, 0, 0, 255}
			}
			img.Set(x, y, c)
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	// The chunk goes right after IHDR (8 bytes of signature, 25 of IHDR).
	chunk := []byte("tEXt" + "Comment\x00" + secret)
	var out bytes.Buffer
	out.Write(data[:33])
	n := len(chunk) - 4
	out.Write([]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
	out.Write(chunk)
	sum := crc32.ChecksumIEEE(chunk)
	out.Write([]byte{byte(sum >> 24), byte(sum >> 16), byte(sum >> 8), byte(sum)})
	out.Write(data[33:])
	return out.Bytes()
}

func requestUpload(t *testing.T, e *apptest.Env, u *apptest.User, purpose, contentType string, size int) (*apptest.Response, upTicket) {
	t.Helper()
	r := e.Query(t, u.Token, upRequest, map[string]any{"in": map[string]any{
		"purpose": purpose, "contentType": contentType, "byteSize": size, "alt": "a test image"}})
	var out struct{ RequestUpload upTicket }
	if len(r.Errors) == 0 {
		r.Decode(t, &out)
	}
	return r, out.RequestUpload
}

// send uploads body as the ticket says (headers changed by edit, when given), and
// returns the status.
func send(t *testing.T, tk upTicket, body []byte, edit func(*http.Request)) int {
	t.Helper()
	req, err := http.NewRequest(tk.Method, tk.UploadURL, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range tk.Headers {
		req.Header.Set(h.Name, h.Value)
	}
	if edit != nil {
		edit(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode >= 300 && edit == nil {
		t.Fatalf("upload to %s: %d %s", tk.UploadURL, resp.StatusCode, msg)
	}
	return resp.StatusCode
}

// upload requests, sends and returns an asset of u's.
func upload(t *testing.T, e *apptest.Env, u *apptest.User, purpose, contentType string, body []byte) upAsset {
	t.Helper()
	r, tk := requestUpload(t, e, u, purpose, contentType, len(body))
	if len(r.Errors) > 0 {
		t.Fatalf("requestUpload: %s", r.Body)
	}
	send(t, tk, body, nil)
	return tk.Asset
}

// fetch GETs url, following redirects (the S3 store redirects to a presigned URL).
func fetch(t *testing.T, url string) (int, string, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), body
}

// stores are the two stores the upload tests run against: the local directory, and a
// real S3-compatible server (SeaweedFS).
func stores(t *testing.T) map[string]func(*config.Config) {
	return map[string]func(*config.Config){
		"local": func(c *config.Config) { c.ImageLimits = upLimits },
		"s3": func(c *config.Config) {
			s := s3test.Start(t)
			c.ImageLimits = upLimits
			c.Storage = "s3"
			c.S3.Bucket, c.S3.Region, c.S3.Endpoint, c.S3.PathStyle = s.Bucket, s.Region, s.Endpoint, true
			c.S3.AccessKey, c.S3.SecretKey = s.AccessKey, s.SecretKey
		},
	}
}

func TestUploads(t *testing.T) {
	t.Parallel()
	for name, store := range stores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := apptest.New(t, apptest.WithConfig(store))
			ada, bob := e.SignUp(t, "ada"), e.SignUp(t, "bob")

			// An avatar: uploaded straight to the store, then shown as the viewer's image.
			pic := pngWithText(t, 40, 30, "GPS 51.5N secret")
			avatar := upload(t, e, ada, "AVATAR", "image/png", pic)
			if !strings.HasPrefix(avatar.URL, e.URL+"/assets/") || avatar.Width != nil || avatar.ContentType != "image/png" ||
				avatar.ByteSize != len(pic) || avatar.Alt != "a test image" {
				t.Fatalf("pending asset = %+v", avatar)
			}
			if code, _, _ := fetch(t, avatar.URL); code != http.StatusNotFound {
				t.Errorf("GET of an unverified asset: %d, want 404", code)
			}
			var me struct {
				UpdateViewer struct{ User struct{ Image *string } }
			}
			e.MustQuery(t, ada.Token, `mutation($id: ID!) { updateViewer(input: {imageAssetId: $id}) { user { image } } }`,
				map[string]any{"id": avatar.ID}, &me)
			if img := me.UpdateViewer.User.Image; img == nil || *img != avatar.URL {
				t.Fatalf("image = %v, want %s", img, avatar.URL)
			}
			code, ct, served := fetch(t, avatar.URL)
			if code != http.StatusOK || ct != "image/png" || bytes.Contains(served, []byte("secret")) {
				t.Fatalf("GET %s: %d %s, metadata kept: %v", avatar.URL, code, ct, bytes.Contains(served, []byte("secret")))
			}
			if cfg, format, err := image.DecodeConfig(bytes.NewReader(served)); err != nil || format != "png" || cfg.Width != 40 || cfg.Height != 30 {
				t.Fatalf("served image: %v %s %dx%d", err, format, cfg.Width, cfg.Height)
			}

			// A cover, with its dimensions once verified.
			cover := upload(t, e, ada, "COVER", "image/png", pngWithText(t, 120, 60, "x"))
			var created struct {
				CreateArticle struct {
					Article struct {
						Slug       string
						CoverImage *upAsset
					}
				}
			}
			e.MustQuery(t, ada.Token, upCover, map[string]any{"in": map[string]any{
				"title": "Covered", "description": "", "body": "b", "coverImageAssetId": cover.ID}}, &created)
			got := created.CreateArticle.Article.CoverImage
			if got == nil || got.ID != cover.ID || got.Width == nil || *got.Width != 120 || *got.Height != 60 ||
				got.ContentType != "image/png" || got.URL != cover.URL {
				t.Fatalf("cover = %+v", got)
			}

			// Refusals: each a coded error on its field, and nothing written.
			bobs := upload(t, e, bob, "COVER", "image/png", pngWithText(t, 10, 10, "x"))
			notImage := upload(t, e, ada, "COVER", "image/png", []byte("<svg onload=alert(1)></svg> pretending"))
			tooMany := upload(t, e, ada, "COVER", "image/png", pngWithText(t, 300, 300, "x"))
			_, pending := requestUpload(t, e, ada, "COVER", "image/png", 100)
			before := e.Snapshot(t)
			for _, tc := range []struct {
				name, id, want string
			}{
				{"someone else's asset", bobs.ID, "no upload of yours"},
				{"an avatar as a cover", avatar.ID, "for AVATAR"},
				{"bytes that are not an image", notImage.ID, "not an image"},
				{"too many pixels", tooMany.ID, "pixels"},
				{"nothing uploaded yet", pending.Asset.ID, "not been uploaded"},
				{"not an asset id", ada.ID, "not an asset id"},
			} {
				r := e.Query(t, ada.Token, upCover, map[string]any{"in": map[string]any{
					"title": "Refused", "description": "", "body": "b", "coverImageAssetId": tc.id}})
				if r.Code() != "BAD_USER_INPUT" || len(r.Errors[0].Extensions.Fields["coverImageAssetId"]) == 0 ||
					!strings.Contains(r.Errors[0].Extensions.Fields["coverImageAssetId"][0], tc.want) {
					t.Errorf("%s: %s", tc.name, r.Body)
				}
			}
			if after := e.Snapshot(t); !maps.Equal(before, after) {
				t.Errorf("refusals wrote: %v -> %v", before, after)
			}
			for _, tc := range []struct {
				name, field string
				in          map[string]any
			}{
				{"an SVG", "contentType", map[string]any{"purpose": "COVER", "contentType": "image/svg+xml", "byteSize": 10}},
				{"HTML", "contentType", map[string]any{"purpose": "COVER", "contentType": "text/html", "byteSize": 10}},
				{"no bytes", "byteSize", map[string]any{"purpose": "COVER", "contentType": "image/png", "byteSize": 0}},
				{"too many bytes", "byteSize", map[string]any{"purpose": "COVER", "contentType": "image/png", "byteSize": upLimits.MaxBytes + 1}},
			} {
				r := e.Query(t, ada.Token, upRequest, map[string]any{"in": tc.in})
				if r.Code() != "BAD_USER_INPUT" || len(r.Errors[0].Extensions.Fields[tc.field]) == 0 {
					t.Errorf("requestUpload of %s: %s", tc.name, r.Body)
				}
			}
			if r, _ := requestUpload(t, e, &apptest.User{}, "COVER", "image/png", 10); r.Code() != "UNAUTHENTICATED" {
				t.Errorf("anonymous requestUpload: %s", r.Body)
			}

			// The store takes only what was signed.
			_, tk := requestUpload(t, e, ada, "INLINE", "image/png", 100)
			body := bytes.Repeat([]byte{1}, 100)
			for name, edit := range map[string]func(*http.Request){
				"another length": func(r *http.Request) { r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(body[:50])), 50 },
				"another URL":    func(r *http.Request) { r.URL.RawQuery = strings.Replace(r.URL.RawQuery, "=", "=x", 1) },
			} {
				if code := send(t, tk, body, edit); code < 400 || code >= 500 {
					t.Errorf("upload with %s: %d, want a 4xx", name, code)
				}
			}
		})
	}
}

// An INLINE image is used by putting its URL in an article's body: saving the body
// verifies it and keeps it; an asset nothing uses is deleted with its bytes once it
// expires, and a replaced avatar expires.
func TestUploadsInlineAndExpiry(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, apptest.WithConfig(func(c *config.Config) { c.ImageLimits = upLimits }))
	ada := e.SignUp(t, "ada")
	inline := upload(t, e, ada, "INLINE", "image/png", pngWithText(t, 20, 20, "x"))
	unused := upload(t, e, ada, "INLINE", "image/png", pngWithText(t, 20, 20, "x"))
	var created struct {
		CreateArticle struct{ Article struct{ Slug string } }
	}
	e.MustQuery(t, ada.Token, dCreate, map[string]any{"in": map[string]any{
		"title": "Illustrated", "description": "", "body": fmt.Sprintf("Look:\n\n![a square](%s)\n", inline.URL)}}, &created)
	if code, ct, _ := fetch(t, inline.URL); code != http.StatusOK || ct != "image/png" {
		t.Fatalf("inline image: %d %s", code, ct)
	}
	expiring := func(url string) bool {
		var n int
		if err := e.DB.QueryRow(`SELECT count(*) FROM assets WHERE url = $1 AND expires_at IS NOT NULL`, url).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 1
	}
	if expiring(inline.URL) || !expiring(unused.URL) {
		t.Fatalf("inline used: %v, unused expiring: %v", !expiring(inline.URL), expiring(unused.URL))
	}

	a1 := upload(t, e, ada, "AVATAR", "image/png", pngWithText(t, 20, 20, "x"))
	a2 := upload(t, e, ada, "AVATAR", "image/png", pngWithText(t, 20, 20, "x"))
	for _, id := range []string{a1.ID, a2.ID} {
		var out map[string]any
		e.MustQuery(t, ada.Token, `mutation($id: ID!) { updateViewer(input: {imageAssetId: $id}) { user { image } } }`,
			map[string]any{"id": id}, &out)
	}
	if !expiring(a1.URL) || expiring(a2.URL) {
		t.Fatalf("replaced avatar expiring: %v, current avatar expiring: %v", expiring(a1.URL), expiring(a2.URL))
	}

	// Due now: the job (every 5 s) deletes the unused asset and its bytes, not the others.
	if _, err := e.DB.Exec(`UPDATE assets SET expires_at = now() - interval '1 second' WHERE expires_at IS NOT NULL`); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for e.Count(t, "assets") != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("%d assets after 30 s, want the inline image and the avatar in use", e.Count(t, "assets"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code, _, _ := fetch(t, a1.URL); code != http.StatusNotFound {
		t.Errorf("GET of the expired avatar: %d, want 404", code)
	}
	for _, url := range []string{inline.URL, a2.URL} {
		if code, _, _ := fetch(t, url); code != http.StatusOK {
			t.Errorf("GET of %s, in use: %d", url, code)
		}
	}
}
