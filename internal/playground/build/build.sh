#!/usr/bin/env bash
# Rebuilds ../assets from the npm packages pinned in package-lock.json: GraphiQL's and
# React's prebuilt browser bundles, copied as published and gzip-compressed. The output is
# committed, so `go build` needs neither npm nor a network; run this only to change a
# version (edit package.json, `npm install --save-exact`, then this script) and commit both.
set -euo pipefail
cd "$(dirname "$0")"
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null
out=../assets
rm -rf "$out"
mkdir -p "$out"
cp node_modules/react/umd/react.production.min.js \
	node_modules/react-dom/umd/react-dom.production.min.js \
	node_modules/graphiql/graphiql.min.js \
	node_modules/graphiql/graphiql.min.css "$out/"
# The bundles name source maps that are not shipped; a browser with its developer tools
# open would ask for them and get 404s.
sed -i '/^\/\/# sourceMappingURL=/d' "$out"/*.js
# Stored compressed: the binary embeds them, and the server sends them as they are to
# every client that accepts gzip. -n leaves out name and time, so a rebuild is byte-equal.
gzip -9 -n "$out"/*.js "$out"/*.css
{
	for p in graphiql react react-dom; do
		printf '%s %s\n\n' "$p" "$(node -p "require('./node_modules/$p/package.json').version")"
		cat "node_modules/$p/LICENSE"
		printf '\n\n'
	done
} >"$out/LICENSES.txt"
ls -l "$out"
