// Package graph is the GraphQL layer: thin resolvers over internal/service and
// internal/loader. generated.go is written by gqlgen from schema.graphql.
package graph

//go:generate go -C .. tool gqlgen generate

import (
	"context"
	"net/url"

	"inkwell/graph/model"
	"inkwell/internal/apperr"
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

func window(first *int, after *string, last *int, before *string, offset ...*int) (paging.Window, error) {
	a := paging.Args{First: first, After: after, Last: last, Before: before}
	if len(offset) > 0 {
		a.Offset = offset[0]
	}
	return paging.Parse(a)
}

// linkTicket starts linking provider to the viewer's account: the start URL of a
// configured provider, with a new link ticket.
func (r *Resolver) linkTicket(ctx context.Context, provider string) (*model.CreateLinkTicketPayload, error) {
	var start string
	for _, p := range r.Providers() {
		if p.Name == provider {
			start = p.StartURL
		}
	}
	if start == "" {
		return nil, apperr.BadInput("provider", "is not a configured sign-in provider")
	}
	w, err := r.Service.As(ctx)
	if err != nil {
		return nil, err
	}
	ticket, expires, err := w.CreateLinkTicket(ctx)
	if err != nil {
		return nil, err
	}
	return &model.CreateLinkTicketPayload{StartURL: start + "?link_ticket=" + url.QueryEscape(ticket), ExpiresAt: expires}, nil
}
