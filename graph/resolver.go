// Package graph is the GraphQL layer: thin resolvers over internal/service and
// internal/loader. generated.go is written by gqlgen from schema.graphql.
package graph

//go:generate go -C .. tool gqlgen generate

import (
	"context"
	"time"

	"inkwell/ent"
	"inkwell/internal/events"
	"inkwell/internal/globalid"
	"inkwell/internal/oauth"
	"inkwell/internal/paging"
	"inkwell/internal/service"
)

// Resolver holds what resolvers need; it is built once per server.
type Resolver struct {
	Service *service.Service
	// Providers lists the configured social sign-in providers.
	Providers func() []oauth.ProviderInfo
	// Events is this instance's event hub, which subscriptions listen to.
	Events *events.Hub
	// Loaders returns ctx with a fresh set of loaders for its viewer; subscriptions
	// take one per event.
	Loaders func(context.Context) context.Context
}

// timestamp is the wire format of every time: RFC 3339 in UTC with microseconds.
func timestamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func userID(u *ent.User) string       { return globalid.Encode(globalid.TypeUser, u.ID) }
func articleID(a *ent.Article) string { return globalid.Encode(globalid.TypeArticle, a.ID) }
func commentID(c *ent.Comment) string { return globalid.Encode(globalid.TypeComment, c.ID) }

func window(first *int, after *string, last *int, before *string) (paging.Window, error) {
	return paging.Parse(paging.Args{First: first, After: after, Last: last, Before: before})
}
