// Package graph is the GraphQL layer: thin resolvers over internal/service and
// internal/loader. generated.go is written by gqlgen from schema.graphql.
package graph

//go:generate go -C .. tool gqlgen generate

import (
	"context"

	"inkwell/internal/events"
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

func window(first *int, after *string, last *int, before *string) (paging.Window, error) {
	return paging.Parse(paging.Args{First: first, After: after, Last: last, Before: before})
}
