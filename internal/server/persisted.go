package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"inkwell/internal/apperr"
)

// PersistedQueries is how /graphql treats Apollo's persisted-query extension,
// extensions.persistedQuery = {version: 1, sha256Hash}.
type PersistedQueries string

const (
	// PersistedAPQ is automatic persisted queries, the default: a client sends the hash
	// alone, and the full text once when the server answers PERSISTED_QUERY_NOT_FOUND.
	// Any valid operation is accepted.
	PersistedAPQ PersistedQueries = "apq"
	// PersistedAllowList accepts only the operations of Config.Manifest, sent by hash
	// alone or in full.
	PersistedAllowList PersistedQueries = "allowlist"
	// PersistedOff answers PERSISTED_QUERY_NOT_SUPPORTED to any request carrying the
	// extension, which tells Apollo's link to stop hashing and send full queries.
	PersistedOff PersistedQueries = "off"
)

// Codes of persisted-query refusals. NOT_FOUND and NOT_SUPPORTED, with the messages
// PersistedQueryNotFound and PersistedQueryNotSupported, are what Apollo's
// persisted-queries link reacts to: it retries with the full text, or stops hashing.
const (
	codePersistedNotFound     = string(apperr.CodePersistedNotFound) // set by gqlgen's extension
	codePersistedNotSupported = string(apperr.CodePersistedNotSupported)
	codePersistedHashMismatch = string(apperr.CodePersistedHashMismatch)
	codePersistedNotAllowed   = string(apperr.CodePersistedNotAllowed)
)

// The automatic persisted-query cache holds at most apqCacheEntries texts of at most
// apqMaxQueryBytes each, 32 MiB in all, whatever clients send. A longer text is still
// executed but not kept, so its client keeps sending it in full.
const (
	apqCacheEntries  = 1024
	apqMaxQueryBytes = 32 << 10
)

// newPersistedQueries returns the extension that resolves persisted queries for mode.
// It must be used before any other extension that reads the query text, which it fills in
// when a request sends the hash alone.
func newPersistedQueries(mode PersistedQueries, manifest *Manifest) graphql.HandlerExtension {
	switch mode {
	case PersistedAllowList:
		if manifest == nil {
			panic("server: Config.Manifest is required with PersistedAllowList")
		}
		return allowList{manifest: manifest}
	case PersistedOff:
		return persistedOff{}
	case "", PersistedAPQ:
		return automaticPersisted{apq: extension.AutomaticPersistedQuery{
			Cache: sizeCappedCache{lru.New[string](apqCacheEntries), apqMaxQueryBytes},
		}}
	default:
		panic(fmt.Sprintf("server: unknown PersistedQueries mode %q", mode))
	}
}

// automaticPersisted is gqlgen's AutomaticPersistedQuery with the request checked first,
// so that every refusal carries a code: gqlgen leaves a malformed extension and a hash
// that does not match the text uncoded, and the presenter would hide them as internal
// errors.
type automaticPersisted struct {
	apq extension.AutomaticPersistedQuery
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationParameterMutator
} = automaticPersisted{}

func (a automaticPersisted) ExtensionName() string { return a.apq.ExtensionName() }

func (a automaticPersisted) Validate(s graphql.ExecutableSchema) error { return a.apq.Validate(s) }

func (a automaticPersisted) MutateOperationParameters(ctx context.Context, raw *graphql.RawParams) *gqlerror.Error {
	hash, ok, err := persistedHash(raw)
	if err != nil || !ok {
		return err
	}
	raw.Extensions["persistedQuery"] = map[string]any{"version": 1, "sha256Hash": hash}
	return a.apq.MutateOperationParameters(ctx, raw)
}

// allowList serves only the operations of a manifest. Whether the client sent the hash
// alone or the text too, the text that runs is the manifest's.
type allowList struct {
	manifest *Manifest
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationParameterMutator
} = allowList{}

func (allowList) ExtensionName() string                   { return "PersistedQueryAllowList" }
func (allowList) Validate(graphql.ExecutableSchema) error { return nil }

func (a allowList) MutateOperationParameters(_ context.Context, raw *graphql.RawParams) *gqlerror.Error {
	hash, ok, err := persistedHash(raw)
	if err != nil {
		return err
	}
	if !ok {
		hash = queryHash(raw.Query)
	}
	text, found := a.manifest.byHash[hash]
	if !found {
		return coded(codePersistedNotAllowed,
			"this server runs only registered operations, and this one is not in its persisted query list")
	}
	raw.Query = text
	return nil
}

// persistedOff refuses the extension rather than ignoring it: a hash sent alone could
// not run, and the code tells Apollo's link to send full queries from now on.
type persistedOff struct{}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationParameterMutator
} = persistedOff{}

func (persistedOff) ExtensionName() string                   { return "PersistedQueryOff" }
func (persistedOff) Validate(graphql.ExecutableSchema) error { return nil }

func (persistedOff) MutateOperationParameters(_ context.Context, raw *graphql.RawParams) *gqlerror.Error {
	if _, present := raw.Extensions["persistedQuery"]; present {
		return coded(codePersistedNotSupported, "PersistedQueryNotSupported")
	}
	return nil
}

// persistedHash reads extensions.persistedQuery: ok is false when the request has none.
// The hash comes back in lower case, and a request that sends the text as well must
// send that text's hash.
func persistedHash(raw *graphql.RawParams) (hash string, ok bool, err *gqlerror.Error) {
	v, present := raw.Extensions["persistedQuery"]
	if !present || v == nil {
		return "", false, nil
	}
	const shape = "extensions.persistedQuery must be {version: 1, sha256Hash: <64 hex digits>}"
	pq, isObject := v.(map[string]any)
	if !isObject {
		return "", false, coded(codeBadRequest, shape)
	}
	if !isVersion1(pq["version"]) {
		return "", false, coded(codeBadRequest, "unsupported persisted query version; only version 1 is known")
	}
	hash, _ = pq["sha256Hash"].(string)
	hash = strings.ToLower(hash)
	if !isSHA256Hex(hash) {
		return "", false, coded(codeBadRequest, shape)
	}
	if raw.Query != "" && queryHash(raw.Query) != hash {
		return "", false, coded(codePersistedHashMismatch,
			"extensions.persistedQuery.sha256Hash is not the SHA-256 of the query text")
	}
	return hash, true, nil
}

// isVersion1 accepts the number 1 however a transport decoded it.
func isVersion1(v any) bool {
	switch v := v.(type) {
	case json.Number:
		return v.String() == "1"
	case float64:
		return v == 1
	case int:
		return v == 1
	case int64:
		return v == 1
	}
	return false
}

func isSHA256Hex(s string) bool {
	if len(s) != 2*sha256.Size {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// queryHash is the hash Apollo's link sends: lower-case hex SHA-256 of the exact text.
func queryHash(query string) string {
	sum := sha256.Sum256([]byte(query))
	return hex.EncodeToString(sum[:])
}

func coded(code, message string) *gqlerror.Error {
	return &gqlerror.Error{Message: message, Extensions: map[string]any{"code": code}}
}

// sizeCappedCache keeps no text longer than limit bytes, so that the number of entries
// bounds the memory the cache can take.
type sizeCappedCache struct {
	graphql.Cache[string]
	limit int
}

func (c sizeCappedCache) Add(ctx context.Context, key, value string) {
	if len(value) <= c.limit {
		c.Cache.Add(ctx, key, value)
	}
}

// Manifest is a persisted query list: operation texts by the lower-case hex SHA-256 of
// their exact text, each known to be valid against the schema.
type Manifest struct {
	byHash map[string]string
}

// Len is the number of operations in m.
func (m *Manifest) Len() int { return len(m.byHash) }

// LoadManifest reads a manifest file and checks it with ParseManifest.
func LoadManifest(path string, schema *ast.Schema) (*Manifest, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("persisted query manifest: %w", err)
	}
	m, err := ParseManifest(b, schema)
	if err != nil {
		return nil, fmt.Errorf("persisted query manifest %s: %w", path, err)
	}
	return m, nil
}

// ParseManifest reads a JSON object {"<sha256 hex of the text>": "<operation text>", ...}
// and checks every entry: the key must be its text's hash, and the text must parse and
// validate against schema. It reports every bad entry at once.
func ParseManifest(data []byte, schema *ast.Schema) (*Manifest, error) {
	var raw map[string]string
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("not a JSON object of hash to operation text: %w", err)
	}
	if len(raw) == 0 {
		return nil, errors.New("no operations: an empty allow-list would refuse every request")
	}
	var errs []error
	byHash := make(map[string]string, len(raw))
	for _, key := range slices.Sorted(maps.Keys(raw)) {
		text := raw[key]
		if !isSHA256Hex(key) || strings.ToLower(key) != key {
			errs = append(errs, fmt.Errorf("%q: not a lower-case hex SHA-256", key))
			continue
		}
		if queryHash(text) != key {
			errs = append(errs, fmt.Errorf("%s: not the SHA-256 of its text (%s)", key, queryHash(text)))
			continue
		}
		if _, list := gqlparser.LoadQueryWithRules(schema, text, nil); len(list) > 0 {
			for _, e := range list {
				errs = append(errs, fmt.Errorf("%s: %s", key, e.Error()))
			}
			continue
		}
		byHash[key] = text
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &Manifest{byHash: byHash}, nil
}
