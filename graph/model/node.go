// Package model holds GraphQL-only types: inputs, payloads, connections. Entities are
// ent's own structs.
package model

// Node is any object with a global id: *ent.User, *ent.Article or *ent.Comment.
type Node interface{}
