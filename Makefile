# orchard: two commands for a newcomer, `make run` and `make test`.
GO        ?= go
DATA_DIR  ?= ./orchard-data
TEST_PG   ?= /tmp/orchard-test-pg-$(shell printf %s "$(CURDIR)" | sha256sum | cut -c1-8)
BIN       := bin/orchard

.PHONY: run test build postgres generate check-generate bench soak clean test-db

build:
	$(GO) build -o $(BIN) ./cmd/orchard

# PostgreSQL's server binaries, installed with apt-get when missing.
postgres:
	@sh scripts/install-postgres.sh

# Runs orchard with its embedded default: a private PostgreSQL cluster in $(DATA_DIR).
# ARGS are passed to orchard serve: make run ARGS="--dep-url http://127.0.0.1:8090"
ARGS ?=
run: postgres build
	DATA_DIR=$(DATA_DIR) BIN=$(BIN) sh scripts/run.sh $(ARGS)

# Starts a private test cluster, runs every check and test, stops the cluster.
test: postgres build
	TEST_PG=$(TEST_PG) BIN=$(BIN) sh scripts/test.sh

generate:
	$(GO) generate ./...

# Fails when the committed gqlgen output differs from what go generate makes.
check-generate:
	sh scripts/check-generate.sh

bench: postgres build
	TEST_PG=$(TEST_PG) BIN=$(BIN) sh scripts/test.sh bench

# kill -9 the server every few seconds under load; not part of `make test`.
soak: postgres build
	TEST_PG=$(TEST_PG) BIN=$(BIN) sh scripts/test.sh soak

clean:
	-./$(BIN) db stop --data-dir $(TEST_PG)
	rm -rf bin $(TEST_PG)

# For running go test by hand: eval "$(make -s test-db)"; stop it with make clean.
test-db: postgres build
	@echo "export ORCHARD_TEST_DATABASE_URL='$$(./$(BIN) db start --data-dir $(TEST_PG) --fast --log-level warn)'"
