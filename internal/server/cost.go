package server

import (
	"context"
	"net/http"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/extension"

	"inkwell/internal/dbstats"
)

// costHeader asks for the cost receipt: "Inkwell-Cost: on".
const costHeader = "Inkwell-Cost"

// costRequested reports whether r asked for the cost receipt.
func costRequested(r *http.Request) bool {
	return strings.EqualFold(strings.TrimSpace(r.Header.Get(costHeader)), "on")
}

// addCost puts the cost receipt into resp's extensions: the complexity the limit was
// checked against, and the SQL statements the request sent with the time PostgreSQL
// took to answer them (from dbstats' counter of the request, so statements of the
// request's authentication count too).
func addCost(ctx context.Context, resp *graphql.Response) {
	var estimated int
	if stats := extension.GetComplexityStats(ctx); stats != nil {
		estimated = stats.Complexity
	}
	var statements int64
	var dbMillis float64
	if c := dbstats.CounterFrom(ctx); c != nil {
		statements = c.Count()
		dbMillis = float64(c.Duration().Microseconds()) / 1000
	}
	if resp.Extensions == nil {
		resp.Extensions = map[string]any{}
	}
	resp.Extensions["cost"] = costReceipt{Estimated: estimated, SQLStatements: statements, DBMillis: dbMillis}
}

type costReceipt struct {
	Estimated     int     `json:"estimated"`
	SQLStatements int64   `json:"sqlStatements"`
	DBMillis      float64 `json:"dbMillis"`
}
