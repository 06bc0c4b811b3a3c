// Package ent holds the data model. Everything here but schema/, migrate/migrations and
// graphql.go (methods GraphQL fields bind to) is generated from ent/schema by
// `go generate ./ent`.
package ent

//go:generate go tool ent generate --feature privacy,sql/upsert,sql/execquery,sql/modifier,sql/versioned-migration,sql/lock ./schema
