package app

import (
	"context"
	"fmt"
	"net/http"

	"inkwell/internal/config"
	"inkwell/internal/storage"
)

// newStore opens the store of uploaded images that cfg names, and the routes it needs:
// GET /assets/{token} always (the image, or a redirect to it), PUT /uploads/{token} for
// the local store, which takes uploads itself.
func newStore(cfg config.Config) (storage.Store, map[string]http.Handler, error) {
	var store storage.Store
	routes := map[string]http.Handler{}
	switch cfg.Storage {
	case "s3":
		s, err := storage.NewS3(context.Background(), cfg.S3)
		if err != nil {
			return nil, nil, err
		}
		store = s
	default:
		// Its own key: an upload URL's signature proves nothing about tokens.
		l, err := storage.NewLocal(cfg.StorageDir, cfg.PublicURL, []byte("inkwell uploads\x00"+cfg.SigningKey))
		if err != nil {
			return nil, nil, fmt.Errorf("local storage: %w", err)
		}
		routes["PUT /uploads/{token}"] = l.UploadHandler()
		store = l
	}
	routes["GET /assets/{token}"] = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := r.PathValue("token")
		if !storage.ValidToken(tok) {
			http.NotFound(w, r)
			return
		}
		store.Serve(w, r, storage.Assets+tok)
	})
	return store, routes, nil
}
