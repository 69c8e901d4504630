# The two commands a newcomer needs: `make demo` and `make test` (both set up everything).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: setup demo test test-rust test-py postgres chromium lint docs bench bench-replay clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# Editable install: maturin builds engine_core (release profile) into pyengine/_core*.so.
setup: $(BIN)/python
	$(BIN)/pip install -q -e ".[dev]"

demo: setup
	$(BIN)/pyengine demo

test: setup test-rust test-py

test-rust:
	cargo test --workspace --release
	# The incremental streams again with debug assertions (they check the pricing's kept
	# lists against the live state mid-solve, which the end-of-run checks cannot see).
	cargo test -p engine_core --test incremental

# The store suites also run on PostgreSQL: the tests start (and stop) their own server from
# Debian's binaries, on 127.0.0.1 and a free port; installed here when missing, as is the
# headless Chromium that loads the HTTP service's page.
test-py: postgres chromium
	PYENGINE_REQUIRE_POSTGRES=1 PYENGINE_REQUIRE_CHROMIUM=1 $(BIN)/pytest

postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq postgresql; }

chromium:
	@command -v chromium >/dev/null 2>&1 || { \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium; }

lint: setup
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings
	cargo clippy --features python -- -D warnings
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m mypy.stubtest pyengine._core

# The generated blocks of docs/events.md, docs/cli.md and docs/policy.md, rewritten from the code
# (prose around them is kept); tests/test_docs.py fails when one is stale.
docs: setup
	$(BIN)/python -m docs.gen

# Benches: pytest-benchmark JSON + PNG in out/, and the ratio table. BENCH_NATIONAL=1 adds the
# national scale (100,000 units: from scratch with peak memory, re-match latency, scaling).
bench: setup
	$(BIN)/pip install -q -e ".[dev,bench]"
	mkdir -p out
	$(BIN)/pytest benches --ignore=benches/test_bench_replay.py -o addopts="" --benchmark-only \
		--benchmark-json=out/bench.json -q
	$(BIN)/python -m benches.report out/bench.json out/bench.png

# The replay bench (1,000,000-event log, cached in out/ after the first run, ~12 min to build).
bench-replay: setup
	$(BIN)/pip install -q -e ".[dev,bench]"
	mkdir -p out
	$(BIN)/pytest benches/test_bench_replay.py -o addopts="" --benchmark-only --benchmark-json=out/bench-replay.json -q
	$(BIN)/python -m benches.report out/bench-replay.json out/bench-replay.png

clean:
	rm -rf $(VENV) target pyengine/_core*.so
