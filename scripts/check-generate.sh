#!/bin/sh
# Regenerates the gqlgen output and fails if that changes any file, so the
# generated code always matches schema.graphql (in CI: the committed files).
set -eu
GO=${GO:-go}
snapshot() { find graph -name '*.go' -type f | sort | xargs sha256sum; }
before=$(snapshot)
"$GO" generate ./...
after=$(snapshot)
if [ "$before" != "$after" ]; then
	echo "go generate changed these files; regenerate and commit them:" >&2
	printf '%s\n' "$before" > /tmp/orchard-gen-before.$$
	printf '%s\n' "$after" | diff /tmp/orchard-gen-before.$$ - >&2 || true
	rm -f /tmp/orchard-gen-before.$$
	exit 1
fi
echo "gqlgen output is up to date"
