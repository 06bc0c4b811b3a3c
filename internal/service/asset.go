package service

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"inkwell/ent"
	"inkwell/ent/asset"
	"inkwell/internal/apperr"
	"inkwell/internal/globalid"
	"inkwell/internal/images"
	"inkwell/internal/storage"
)

// Uploads: a client asks for an upload (RequestUpload), sends the bytes straight to the
// store, then uses the asset (an avatar, a cover, an image in an article's body). The
// first use verifies it (internal/images): real type by content, size and pixel limits,
// metadata stripped. An asset nothing uses expires.
const (
	uploadFor = 15 * time.Minute // how long an upload URL is valid
	unusedFor = 24 * time.Hour   // how long an asset nothing uses is kept
	maxAlt    = 500
)

// UploadRequest asks to upload one image.
type UploadRequest struct {
	Purpose     asset.Purpose
	ContentType string
	ByteSize    int64
	Alt         string
}

// UploadTicket is where and how to upload, and the asset the bytes will be.
type UploadTicket struct {
	storage.Upload
	ExpiresAt time.Time
	Asset     *ent.Asset
}

// RequestUpload makes a pending asset of the viewer's and the URL to upload it to.
func (s *Acting) RequestUpload(ctx context.Context, in UploadRequest) (UploadTicket, error) {
	in.ContentType = strings.ToLower(strings.TrimSpace(in.ContentType))
	in.Alt = strings.TrimSpace(in.Alt)
	bad := apperr.Fields{}
	if !images.Allowed(in.ContentType) {
		bad.Add("contentType", "must be image/jpeg, image/png, image/gif or image/webp")
	}
	if in.ByteSize < 1 || in.ByteSize > s.imageLimits.MaxBytes {
		bad.Add("byteSize", fmt.Sprintf("must be from 1 to %d bytes", s.imageLimits.MaxBytes))
	}
	if utf8.RuneCountInString(in.Alt) > maxAlt {
		bad.Add("alt", fmt.Sprintf("is too long (at most %d characters)", maxAlt))
	}
	if err := bad.Err(); err != nil {
		return UploadTicket{}, err
	}
	token, err := newToken()
	if err != nil {
		return UploadTicket{}, err
	}
	now := s.now()
	var a *ent.Asset
	// Through the viewer's write budget: each request makes a row and an upload URL.
	err = s.write(ctx, func(tx *ent.Tx, _ *written) error {
		var err error
		a, err = tx.Asset.Create().SetOwnerID(s.viewer.UserID).SetPurpose(in.Purpose).SetToken(token).
			SetURL(s.assetsURL + token).SetContentType(in.ContentType).SetByteSize(in.ByteSize).SetAlt(in.Alt).
			SetCreatedAt(now).SetUpdatedAt(now).SetExpiresAt(now.Add(unusedFor)).Save(ctx)
		if err != nil {
			return fmt.Errorf("insert asset: %w", err)
		}
		return nil
	})
	if err != nil {
		return UploadTicket{}, err
	}
	expires := now.Add(uploadFor)
	up, err := s.store.PresignPut(ctx, storage.Incoming+token, in.ContentType, in.ByteSize, expires)
	if err != nil {
		return UploadTicket{}, err
	}
	return UploadTicket{Upload: up, ExpiresAt: expires, Asset: a}, nil
}

// newToken is a random storage token (storage.ValidToken).
func newToken() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// assetChoice is an input's asset: none given (keep), cleared (""), or an asset.
type assetChoice struct {
	given bool
	asset *ent.Asset // nil clears
}

// id is the chosen asset's id, nil when cleared.
func (c assetChoice) id() *int {
	if c.asset == nil {
		return nil
	}
	return &c.asset.ID
}

// chooseAsset resolves the asset id gid given in input field for purpose: the viewer's,
// of that purpose, verified (now, on its first use). Refusals are BAD_USER_INPUT on field.
func (s *Acting) chooseAsset(ctx context.Context, field string, gid *string, purpose asset.Purpose) (assetChoice, error) {
	if gid == nil {
		return assetChoice{}, nil
	}
	if *gid == "" {
		return assetChoice{given: true}, nil
	}
	typ, id, ok := globalid.Decode(*gid)
	if !ok || typ != globalid.TypeAsset {
		return assetChoice{}, apperr.BadInput(field, "is not an asset id")
	}
	a, err := s.db.Asset.Get(ctx, id)
	if ent.IsNotFound(err) || (err == nil && a.OwnerID != s.viewer.UserID) {
		// Someone else's asset is refused the same way as none: ids tell nothing.
		return assetChoice{}, apperr.BadInput(field, "names no upload of yours")
	}
	if err != nil {
		return assetChoice{}, err
	}
	if a.Purpose != purpose {
		return assetChoice{}, apperr.BadInput(field, fmt.Sprintf("is an upload for %s, not %s",
			strings.ToUpper(string(a.Purpose)), strings.ToUpper(string(purpose))))
	}
	if a, err = s.verify(ctx, a, field); err != nil {
		return assetChoice{}, err
	}
	return assetChoice{given: true, asset: a}, nil
}

// verify makes a pending asset ready: its upload, checked and cleaned, becomes its
// image. A refused upload makes the asset rejected, for good. Two requests verifying
// one asset at once both may do the work; one's result is kept.
func (s *Service) verify(ctx context.Context, a *ent.Asset, field string) (*ent.Asset, error) {
	switch a.State {
	case asset.StateReady:
		return a, nil
	case asset.StateRejected:
		return nil, apperr.BadInput(field, "was refused when it was verified: upload the image again")
	}
	incoming := storage.Incoming + a.Token
	data, err := s.store.Read(ctx, incoming, s.imageLimits.MaxBytes)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return nil, apperr.BadInput(field, "has not been uploaded yet")
	case errors.Is(err, storage.ErrTooLarge):
		err = &images.Problem{Message: fmt.Sprintf("is larger than %d bytes", s.imageLimits.MaxBytes)}
	case err == nil:
		var img *images.Image
		if img, err = images.Clean(data, s.imageLimits); err == nil {
			return s.keepVerified(ctx, a, img)
		}
	}
	var p *images.Problem
	if !errors.As(err, &p) {
		return nil, err
	}
	if err := s.db.Asset.Update().Where(asset.ID(a.ID), asset.StateEQ(asset.StatePending)).
		SetState(asset.StateRejected).Exec(ctx); err != nil {
		return nil, err
	}
	_ = s.store.Delete(ctx, incoming)
	return nil, apperr.BadInput(field, "the upload "+p.Message)
}

// keepVerified stores img as a's image and marks a ready.
func (s *Service) keepVerified(ctx context.Context, a *ent.Asset, img *images.Image) (*ent.Asset, error) {
	if err := s.store.Write(ctx, storage.Assets+a.Token, img.ContentType, img.Data); err != nil {
		return nil, err
	}
	n, err := s.db.Asset.Update().Where(asset.ID(a.ID), asset.StateEQ(asset.StatePending)).
		SetState(asset.StateReady).SetContentType(img.ContentType).SetByteSize(int64(len(img.Data))).
		SetWidth(img.Width).SetHeight(img.Height).SetUpdatedAt(s.now()).Save(ctx)
	if err != nil {
		return nil, err
	}
	if n == 1 {
		_ = s.store.Delete(ctx, storage.Incoming+a.Token)
	}
	return s.db.Asset.Get(ctx, a.ID)
}

// swapAsset records, in tx, that newID is used and oldID (what it replaces) is not:
// the old one expires unless it is the new one.
func (s *Service) swapAsset(ctx context.Context, tx *ent.Tx, newID, oldID *int) error {
	if newID != nil {
		if err := tx.Asset.UpdateOneID(*newID).ClearExpiresAt().Exec(ctx); err != nil {
			return fmt.Errorf("use asset: %w", err)
		}
	}
	if oldID != nil && (newID == nil || *newID != *oldID) {
		if err := tx.Asset.UpdateOneID(*oldID).SetExpiresAt(s.now().Add(unusedFor)).Exec(ctx); err != nil && !ent.IsNotFound(err) {
			return fmt.Errorf("release asset: %w", err)
		}
	}
	return nil
}

// inlineTokens are the tokens of this server's asset URLs in an article's body.
func (s *Service) inlineTokens(body string) []string {
	if s.inlineURL == nil {
		return nil
	}
	var out []string
	for _, m := range s.inlineURL.FindAllStringSubmatch(body, 100) {
		out = append(out, m[1])
	}
	return out
}

// verifyInline verifies the viewer's INLINE assets that body shows and returns their ids
// (for useInline). Those it shows that are not verifiable are refused on field.
func (s *Acting) verifyInline(ctx context.Context, body, field string) ([]int, error) {
	tokens := s.inlineTokens(body)
	if len(tokens) == 0 {
		return nil, nil
	}
	as, err := s.db.Asset.Query().Where(asset.TokenIn(tokens...), asset.OwnerID(s.viewer.UserID),
		asset.PurposeEQ(asset.PurposeInline)).All(ctx)
	if err != nil {
		return nil, err
	}
	ids := make([]int, 0, len(as))
	for _, a := range as {
		if _, err := s.verify(ctx, a, field); err != nil {
			return nil, err
		}
		ids = append(ids, a.ID)
	}
	return ids, nil
}

// useInline marks ids (verifyInline's) used, in tx.
func useInline(ctx context.Context, tx *ent.Tx, ids []int) error {
	if len(ids) == 0 {
		return nil
	}
	return tx.Asset.Update().Where(asset.IDIn(ids...)).ClearExpiresAt().Exec(ctx)
}

// ExpireAssets deletes the assets nothing has used since they expired, and their bytes,
// and returns how many. Several instances may run it at once: each row is taken with
// SKIP LOCKED and deleted by one of them.
func (s *Service) ExpireAssets(ctx context.Context) (int, error) {
	if s.store == nil {
		return 0, nil
	}
	var tokens []string
	err := s.record(ctx, func(tx *ent.Tx, _ *written) error {
		var err error
		tokens, err = column[string](ctx, tx, `DELETE FROM assets WHERE id IN (
			SELECT id FROM assets a WHERE expires_at < $1
			   AND NOT EXISTS (SELECT 1 FROM users u WHERE u.image_asset_id = a.id)
			   AND NOT EXISTS (SELECT 1 FROM articles r WHERE r.cover_image_asset_id = a.id)
			 ORDER BY expires_at LIMIT 100 FOR UPDATE SKIP LOCKED) RETURNING token`, s.now())
		if err != nil {
			return fmt.Errorf("expire assets: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	// After the commit: bytes are deleted only for rows that are gone.
	for _, t := range tokens {
		if err := s.store.Delete(ctx, storage.Incoming+t, storage.Assets+t); err != nil {
			return len(tokens), err
		}
	}
	return len(tokens), nil
}

// chooseImages resolves an article input's cover and verifies the inline images its
// body (when given) shows.
func (s *Acting) chooseImages(ctx context.Context, coverID, body *string) (assetChoice, []int, error) {
	cover, err := s.chooseAsset(ctx, "coverImageAssetId", coverID, asset.PurposeCover)
	if err != nil || body == nil {
		return cover, nil, err
	}
	inline, err := s.verifyInline(ctx, *body, "body")
	return cover, inline, err
}
