package model

import (
	"context"
	"strings"

	"inkwell/ent"
	"inkwell/internal/globalid"
	"inkwell/internal/loader"
	"inkwell/internal/paging"
)

// Notification is a notification read in one request.
type Notification struct {
	*ent.Notification
	ctx context.Context
}

// NewNotification is n read in ctx's request; nil for nil.
func NewNotification(ctx context.Context, n *ent.Notification) *Notification {
	if n == nil {
		return nil
	}
	return &Notification{Notification: n, ctx: ctx}
}

// GlobalID is the notification's opaque id.
func (n *Notification) GlobalID() string { return globalid.Encode(globalid.TypeNotification, n.ID) }

// Kind is what happened.
func (n *Notification) Kind() NotificationKind {
	return NotificationKind(strings.ToUpper(string(n.Notification.Kind)))
}

// Read reports whether it was marked read.
func (n *Notification) Read() bool { return n.ReadAt != nil }

// Recipient is the user it is for.
func (n *Notification) Recipient() (*User, error) {
	u, err := loader.For(n.ctx).UserByID.Load(n.ctx, n.UserID)()
	return NewUser(n.ctx, u), err
}

// Actor is who did it.
func (n *Notification) Actor() (*User, error) {
	u, err := loader.For(n.ctx).UserByID.Load(n.ctx, n.ActorID)()
	return NewUser(n.ctx, u), err
}

// maxActors is the most actors one notification lists.
const maxActors = 20

// Actors are the group's distinct users, most recent first, at most first.
func (n *Notification) Actors(first *int) ([]*User, error) {
	ids, err := loader.For(n.ctx).NotificationActors.Load(n.ctx, n.ID)()
	if err != nil {
		return nil, err
	}
	k := 3
	if first != nil {
		k = min(max(*first, 0), maxActors)
	}
	ids = ids[:min(k, len(ids))]
	l := loader.For(n.ctx)
	out := make([]*User, 0, len(ids))
	for _, id := range ids {
		u, err := l.UserByID.Load(n.ctx, id)()
		if err != nil {
			return nil, err
		}
		out = append(out, NewUser(n.ctx, u))
	}
	return out, nil
}

// ActorsCount is how many distinct users the group has.
func (n *Notification) ActorsCount() (int, error) {
	ids, err := loader.For(n.ctx).NotificationActors.Load(n.ctx, n.ID)()
	return len(ids), err
}

// Article is what it is about, if anything.
func (n *Notification) Article() (*Article, error) {
	if n.ArticleID == nil {
		return nil, nil
	}
	a, err := loader.For(n.ctx).ArticleByID.Load(n.ctx, *n.ArticleID)()
	return NewArticle(n.ctx, a), err
}

// Comment is the comment or reply, if any.
func (n *Notification) Comment() (*Comment, error) {
	if n.CommentID == nil {
		return nil, nil
	}
	c, err := loader.For(n.ctx).CommentByID.Load(n.ctx, *n.CommentID)()
	return NewComment(n.ctx, c), err
}

// NotificationEdge is a notification and its cursor.
type NotificationEdge struct {
	Cursor string
	Node   *Notification
}

// NotificationConnection is a page of notifications.
type NotificationConnection struct {
	Edges    []*NotificationEdge
	PageInfo *PageInfo
	Count    Counter
	ctx      context.Context
}

// NewNotificationConnection is a page of notifications read in ctx's request.
func NewNotificationConnection(ctx context.Context, p paging.Page[*ent.Notification], count Counter) *NotificationConnection {
	c := &NotificationConnection{PageInfo: pageInfo(p), Count: count, ctx: ctx}
	for i, n := range p.Items {
		c.Edges = append(c.Edges, &NotificationEdge{Cursor: paging.EncodeCursor(p.Keys[i]), Node: NewNotification(ctx, n)})
	}
	return c
}

// Nodes lists the page's notifications.
func (c *NotificationConnection) Nodes() []*Notification {
	out := make([]*Notification, len(c.Edges))
	for i, e := range c.Edges {
		out[i] = e.Node
	}
	return out
}

// TotalCount counts the whole list.
func (c *NotificationConnection) TotalCount() (int, error) { return total(c.ctx, c.Count) }
