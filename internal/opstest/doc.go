// Package opstest holds the operations tests: real inkwell processes behind a real nginx
// over a local PostgreSQL, through rolling deploys, killed instances, a restarted database
// and an exhausted connection pool, under load; and, in TestCluster, the same over a
// pg_auto_failover cluster with a read replica behind PgBouncer (internal/pgcluster):
// read-your-writes under replica lag, replica loss, 500 clients through the pooler,
// throughput with and without the replica, and failover. They take minutes, so they build
// only with the opstest tag and are left out of the default test run:
//
//	go test -tags opstest -race -count=1 -timeout 25m ./internal/opstest/...
//
// They need PostgreSQL's server binaries, nginx (.ci/install-nginx installs it), and
// pg_autoctl and pgbouncer (.ci/install-cluster).
package opstest
