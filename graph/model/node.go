// Package model holds the types GraphQL reads: entities as read in a request (ent's rows
// with the request's loaders), inputs, payloads, connections.
package model

// Node is any object with a global id: *User, *Article or *Comment.
type Node interface{}
