// Package ent holds the data model. Everything here but schema/, migrate/migrations and
// graphql.go (methods GraphQL fields bind to) is generated from ent/schema by
// `go generate ./ent`.
package ent

//go:generate go run entc.go
