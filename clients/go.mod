// This folder holds the Node clients, not Go code. Being a module of its own, it is left
// out of `./...` in the parent module, so `go test ./...`, `go vet ./...` and
// golangci-lint never walk into node_modules (some npm packages ship .go files).
module inkwell/clients

go 1.26.0
