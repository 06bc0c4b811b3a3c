// This folder is an npm project, not Go code. A go.mod here makes it a module of its own,
// so that `go test ./...`, `go vet ./...` and golangci-lint stop at it and never walk
// into node_modules.
module inkwell/internal/playground/build

go 1.26
