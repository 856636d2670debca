#!/bin/sh
# Runs orchard's checks and tests against a private PostgreSQL cluster that it
# starts in $TEST_PG and stops afterwards. `scripts/test.sh bench` runs the
# benchmarks instead, `scripts/test.sh soak` the kill -9 soak test. Called by `make test` / `make bench`.
set -eu
: "${TEST_PG:?}" "${BIN:?}"
GO=${GO:-go}

"$BIN" db stop --data-dir "$TEST_PG" --log-level warn >/dev/null 2>&1 || true
ORCHARD_TEST_DATABASE_URL=$("$BIN" db start --data-dir "$TEST_PG" --fast --log-level warn)
export ORCHARD_TEST_DATABASE_URL
trap '"$BIN" db stop --data-dir "$TEST_PG" --log-level warn' EXIT
echo "test PostgreSQL: $TEST_PG"

if [ "${1:-}" = soak ]; then
	# kill -9 of a live server every few seconds; ORCHARD_SOAK_DURATION (default 60s).
	"$GO" test -tags soak -run TestSoak -count=1 -timeout 20m -v ./cmd/orchard/
	exit 0
fi
if [ "${1:-}" = bench ]; then
	"$GO" test -run '^$' -bench . -benchmem -timeout 60m ./...
	exit 0
fi

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change: $unformatted" >&2
	exit 1
fi
"$GO" vet ./...
sh scripts/check-generate.sh
"$GO" test -race -count=1 -timeout 8m ./...
