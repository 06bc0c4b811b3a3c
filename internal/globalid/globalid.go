// Package globalid makes Relay global ids: opaque strings that carry a type name and a
// database id, so Query.node can find any object from its id alone.
package globalid

import (
	"encoding/base64"
	"strconv"
	"strings"
)

// The types that have global ids.
const (
	TypeUser    = "User"
	TypeArticle = "Article"
	TypeComment = "Comment"
	// TypeArticleRevision names an article's earlier version (not a Node: node(id) does
	// not find it; restoreRevision takes it).
	TypeArticleRevision = "ArticleRevision"
	// TypeAsset names an uploaded image (not a Node either).
	TypeAsset = "Asset"
	// TypeNotification names a notification (not a Node: markNotificationsRead and the
	// notificationAdded cursor take it).
	TypeNotification = "Notification"
)

// Encode returns the global id of the typ row with id.
func Encode(typ string, id int) string {
	return base64.RawURLEncoding.EncodeToString([]byte(typ + ":" + strconv.Itoa(id)))
}

// Decode splits a global id into its type and database id; ok is false for anything
// Encode did not make.
func Decode(gid string) (typ string, id int, ok bool) {
	raw, err := base64.RawURLEncoding.DecodeString(gid)
	if err != nil {
		return "", 0, false
	}
	typ, num, found := strings.Cut(string(raw), ":")
	if !found {
		return "", 0, false
	}
	id, err = strconv.Atoi(num)
	if err != nil || id <= 0 || strconv.Itoa(id) != num {
		return "", 0, false
	}
	switch typ {
	case TypeUser, TypeArticle, TypeComment, TypeArticleRevision, TypeAsset, TypeNotification:
	default:
		return "", 0, false
	}
	// Base64 decoding forgives set spare bits and line breaks; an object must have one
	// id only, or clients caching by id would hold two copies of it.
	if Encode(typ, id) != gid {
		return "", 0, false
	}
	return typ, id, true
}
