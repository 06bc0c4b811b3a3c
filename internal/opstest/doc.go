// Package opstest holds the operations tests: real inkwell processes behind a real nginx
// over a local PostgreSQL, through rolling deploys, killed instances, a restarted database
// and an exhausted connection pool, under load. They take minutes, so they build only with
// the opstest tag and are left out of the default test run:
//
//	go test -tags opstest -race -count=1 -timeout 15m ./internal/opstest/...
//
// They need PostgreSQL's server binaries and nginx (.ci/install-nginx installs it).
package opstest
