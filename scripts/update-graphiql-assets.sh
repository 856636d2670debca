#!/bin/sh
# Refreshes the GraphiQL page's vendored files in graph/graphiql/assets from
# the npm registry. Only the minified browser builds and their licenses are
# kept. After a version change, update the paths in
# graph/graphiql/index.html.tmpl and graph/graphiql/THIRD_PARTY.md.
#
# usage: scripts/update-graphiql-assets.sh [graphiql-version] [react-version]
set -eu

GRAPHIQL_VERSION=${1:-3.9.0}
REACT_VERSION=${2:-18.3.1}
ASSETS=$(cd "$(dirname "$0")/.." && pwd)/graph/graphiql/assets

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fetch() { # package version -> unpacked package directory
	(cd "$work" && npm pack --silent "$1@$2" >/dev/null)
	mkdir -p "$work/$1"
	tar -xzf "$work/$1-$2.tgz" -C "$work/$1"
	echo "$work/$1/package"
}

copy() { # source-dir dest-name files...
	src=$1 dest=$ASSETS/$2
	shift 2
	mkdir -p "$dest"
	for f in "$@"; do
		cp "$src/$f" "$dest/$(basename "$f")"
	done
	echo "update-graphiql-assets: $dest <- $*"
}

g=$(fetch graphiql "$GRAPHIQL_VERSION")
copy "$g" "graphiql-$GRAPHIQL_VERSION" graphiql.min.js graphiql.min.css LICENSE
r=$(fetch react "$REACT_VERSION")
copy "$r" "react-$REACT_VERSION" umd/react.production.min.js LICENSE
d=$(fetch react-dom "$REACT_VERSION")
copy "$d" "react-dom-$REACT_VERSION" umd/react-dom.production.min.js LICENSE
