# Thin targets over the go tool; `make help` lists them. CI (.ci/run) calls the same ones.
SHELL := /bin/bash
GOLANGCI_LINT_VERSION := v2.15.0
export GOBIN := $(CURDIR)/.ci/bin

.PHONY: help run cluster test generate check-generate migration lint vet fmt-check build bench postgres chromium clients playground check-deploy redis seaweedfs ops-test cluster-test vuln restore-test

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

postgres: ## install PostgreSQL server binaries when missing (Debian/Ubuntu, as root)
	@.ci/install-postgres

# The built binary, not `go run`: go run exits 1 whenever it sees Ctrl-C, even after the
# server stopped cleanly.
run: postgres build ## serve on http://127.0.0.1:8080 with a local PostgreSQL and demo data
	bin/inkwell serve

# Built binaries for the same reason as run's; CLUSTER_ARGS passes flags, e.g.
# CLUSTER_ARGS="-addr 127.0.0.1:8090 -demo=false".
cluster: postgres build ## pg_auto_failover (primary, sync standby, read replica), PgBouncer, 2 instances, nginx on :8080, until Ctrl-C
	@.ci/install-cluster
	@.ci/install-nginx
	go build -o bin/inkwell-cluster ./cmd/inkwell-cluster
	bin/inkwell-cluster -inkwell bin/inkwell $(CLUSTER_ARGS)

chromium: ## install Debian's Chromium when missing, for the playground's browser test (as root)
	@.ci/install-chromium

playground: ## rebuild the embedded GraphiQL assets from the npm packages pinned in internal/playground/build
	internal/playground/build/build.sh

redis: ## install Debian's redis-server when missing, for the tests of shared rate limits (as root)
	@.ci/install-redis

seaweedfs: ## build SeaweedFS's weed (an S3-compatible server) for the upload tests, once (~10 min; kept in the user's cache)
	@.ci/install-seaweedfs >/dev/null

clients: clients/node_modules/.package-lock.json ## install the Apollo client project's npm packages (clients/)

# npm ci rewrites clients/node_modules/.package-lock.json, so this reinstalls only when the lockfile changes.
clients/node_modules/.package-lock.json: clients/package-lock.json
	@.ci/check-node
	npm ci --prefix clients --no-audit --no-fund

test: postgres chromium clients redis seaweedfs ## run every test (Go, Apollo client, browser) against a real, throw-away PostgreSQL
	go test -race -count=1 ./...

ops-test: postgres ## operations tests behind real nginx: rolling deploy, SIGKILL, PostgreSQL restart, pool exhaustion, and load over a replicated cluster with failover (~6 min)
	@.ci/install-nginx
	@.ci/install-cluster
	go test -tags opstest -race -count=1 -timeout 25m ./internal/opstest/...

cluster-test: postgres ## failover, pooler and replica tests on a local pg_auto_failover + PgBouncer topology, and make cluster's (~5 min)
	@.ci/install-cluster
	@.ci/install-nginx
	go test -tags opstest -count=1 -timeout 15m ./internal/pgcluster/... ./internal/localnginx/... ./cmd/inkwell-cluster/...
	go test -tags opstest -count=1 -timeout 10m -run TestComposeClusterPooler ./deploy

restore-test: postgres ## back up a seeded local PostgreSQL with deploy/backup/pg-backup, restore it with pg_restore, compare every table (~1 min)
	go test -tags restoretest -count=1 -timeout 5m -run TestBackupRestore ./deploy

bench: postgres ## load benchmark vs the anchors in ../shared/bench, size M (~10 min); BENCH_ARGS="-size S -rounds 1" varies it
	go run ./bench $(BENCH_ARGS)

# Passed explicitly: the toolchain stamps the commit only when .git is a directory (not in a
# git worktree) and -buildvcs is not off.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null)
BUILD_DATE ?= $(shell TZ=UTC git log -1 --format=%cd --date=format-local:%Y-%m-%dT%H:%M:%SZ 2>/dev/null)
LDFLAGS := -X inkwell/internal/buildinfo.version=$(VERSION) -X inkwell/internal/buildinfo.commit=$(COMMIT) -X inkwell/internal/buildinfo.date=$(BUILD_DATE)

build: ## build bin/inkwell, stamped with VERSION (default: git describe), the commit and its date
	go build -trimpath -ldflags "$(LDFLAGS)" -o bin/inkwell ./cmd/inkwell

generate: ## regenerate ent and gqlgen code from ent/schema and schema.graphql
	go generate ./ent ./graph

migration: postgres ## write the next migration from ent/schema: make migration NAME=add_x
	@test -n "$(NAME)" || { echo "usage: make migration NAME=short_name"; exit 2; }
	go run ./ent/migrate/diff $(NAME)

check-generate: postgres ## fail when generated code or migrations drift from their sources
	go generate ./ent ./graph
	go run ./ent/migrate/diff drift_check
	@new=$$(git ls-files --others --exclude-standard); \
	if [ -n "$$new" ] || ! git diff --quiet --exit-code; then \
		echo "generated code or migrations are out of date: run 'make generate' (or 'make migration NAME=...') and commit:"; \
		git diff --stat; echo "$$new"; exit 1; fi

check-deploy: ## validate workflows (actionlint), k8s (kubectl-validate), Compose, nginx; build the image (buildah)
	.ci/check-deploy

vuln: ## govulncheck (pinned, into .ci/bin): fail on vulnerabilities the code reaches; skipped if vuln.go.dev is unreachable
	@.ci/vuln

vet: ## go vet
	go vet ./...

fmt-check: ## fail when gofmt would change a file
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

lint: ## golangci-lint (installed into .ci/bin at a pinned version)
	@[ -x .ci/bin/golangci-lint ] && .ci/bin/golangci-lint version 2>/dev/null | grep -q "$(GOLANGCI_LINT_VERSION:v%=%)" || \
		go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	.ci/bin/golangci-lint run ./...
