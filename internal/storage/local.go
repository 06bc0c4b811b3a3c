package storage

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Local keeps objects as files under a directory, and takes uploads itself: a presigned
// URL is Inkwell's own PUT /uploads/<token>, signed with an HMAC of what it allows.
type Local struct {
	dir    string
	base   string // the server's public URL
	secret []byte
	now    func() time.Time
}

// NewLocal returns a store in dir (made if missing) whose upload URLs start with
// publicURL, signed with secret.
func NewLocal(dir, publicURL string, secret []byte) (*Local, error) {
	for _, sub := range []string{Incoming, Assets} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o750); err != nil {
			return nil, fmt.Errorf("storage: %w", err)
		}
	}
	return &Local{dir: dir, base: strings.TrimRight(publicURL, "/"), secret: secret, now: time.Now}, nil
}

// path is the file of key; keys are made here (prefix and token), never taken whole
// from a client.
func (l *Local) path(key string) (string, error) {
	for _, prefix := range []string{Incoming, Assets} {
		if tok, ok := strings.CutPrefix(key, prefix); ok && ValidToken(tok) {
			return filepath.Join(l.dir, prefix, tok), nil
		}
	}
	return "", fmt.Errorf("storage: bad key %q", key)
}

func (l *Local) sign(key, contentType string, size, expires int64) string {
	m := hmac.New(sha256.New, l.secret)
	fmt.Fprintf(m, "PUT\n%s\n%s\n%d\n%d", key, contentType, size, expires)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// PresignPut returns Inkwell's own upload URL for key (an Incoming key).
func (l *Local) PresignPut(_ context.Context, key, contentType string, size int64, expires time.Time) (Upload, error) {
	tok, ok := strings.CutPrefix(key, Incoming)
	if !ok || !ValidToken(tok) {
		return Upload{}, fmt.Errorf("storage: bad upload key %q", key)
	}
	q := url.Values{}
	q.Set("type", contentType)
	q.Set("size", strconv.FormatInt(size, 10))
	q.Set("expires", strconv.FormatInt(expires.Unix(), 10))
	q.Set("signature", l.sign(key, contentType, size, expires.Unix()))
	return Upload{
		URL:     l.base + "/uploads/" + tok + "?" + q.Encode(),
		Method:  http.MethodPut,
		Headers: map[string]string{"Content-Type": contentType},
	}, nil
}

// UploadHandler takes PUT /uploads/{token}: the body is kept only when the signature
// matches, the URL has not expired, and the body has the content type and exact size
// signed.
func (l *Local) UploadHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := r.PathValue("token")
		q := r.URL.Query()
		size, err1 := strconv.ParseInt(q.Get("size"), 10, 64)
		expires, err2 := strconv.ParseInt(q.Get("expires"), 10, 64)
		ct := q.Get("type")
		switch {
		case !ValidToken(tok) || err1 != nil || err2 != nil || size < 0:
			http.Error(w, "bad upload URL", http.StatusBadRequest)
			return
		case !hmac.Equal([]byte(q.Get("signature")), []byte(l.sign(Incoming+tok, ct, size, expires))):
			http.Error(w, "bad signature", http.StatusForbidden)
			return
		case l.now().Unix() > expires:
			http.Error(w, "the upload URL has expired", http.StatusForbidden)
			return
		case r.Header.Get("Content-Type") != ct:
			http.Error(w, "Content-Type differs from the one signed: "+ct, http.StatusBadRequest)
			return
		case r.ContentLength != size:
			http.Error(w, "Content-Length differs from the size signed: "+strconv.FormatInt(size, 10), http.StatusBadRequest)
			return
		}
		data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, size))
		if err != nil || int64(len(data)) != size {
			http.Error(w, "the body is not the size signed", http.StatusBadRequest)
			return
		}
		if err := l.Write(r.Context(), Incoming+tok, ct, data); err != nil {
			http.Error(w, "could not store the upload", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
}

// Read reads key's file.
func (l *Local) Read(_ context.Context, key string, max int64) ([]byte, error) {
	p, err := l.path(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, ErrTooLarge
	}
	return data, nil
}

// Write writes key's file whole or not at all: a reader never sees half of it.
func (l *Local) Write(_ context.Context, key, _ string, data []byte) error {
	p, err := l.path(key)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".tmp-*")
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), p)
}

// Delete removes keys' files.
func (l *Local) Delete(_ context.Context, keys ...string) error {
	for _, k := range keys {
		p, err := l.path(k)
		if err != nil {
			return err
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// Serve sends key's file, its type sniffed from its bytes (only verified images are
// written under Assets), and never run by a browser as anything but an image.
func (l *Local) Serve(w http.ResponseWriter, r *http.Request, key string) {
	p, err := l.path(key)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	f, err := os.Open(p)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	defer func() { _ = f.Close() }()
	st, err := f.Stat()
	if err != nil {
		http.NotFound(w, r)
		return
	}
	head := make([]byte, 512)
	n, _ := io.ReadFull(f, head)
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		http.Error(w, "read error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", http.DetectContentType(head[:n]))
	h.Set("Cache-Control", assetCacheControl)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	http.ServeContent(w, r, "", st.ModTime(), f)
}
