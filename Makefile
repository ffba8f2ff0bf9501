# scopegate — see README.md. `make demo` shows it working; `make test` runs every test.
CARGO    ?= cargo
BIN      := target/debug/scopegate
LISTEN   ?= 127.0.0.1:8443
CONFIG   ?=

.PHONY: all build test lint unit run certs demo clean

all: build

build:
	$(CARGO) build --workspace --bins

# Every test: formatting and lints, unit tests, and the end-to-end tests over TLS on loopback.
test: lint unit

lint:
	@if $(CARGO) fmt --version >/dev/null 2>&1; then $(CARGO) fmt --all -- --check; else echo "rustfmt not installed: skipping the format check"; fi
	@if $(CARGO) clippy --version >/dev/null 2>&1; then $(CARGO) clippy --workspace --all-targets -- -D warnings; else echo "clippy not installed: skipping lints"; fi

unit:
	$(CARGO) test --workspace

certs: certs/tls.crt

certs/tls.crt:
	$(CARGO) build --bin scopegate
	$(BIN) certs --out-dir certs --san localhost --san 127.0.0.1 >/dev/null

# Serve locally with the dev certificates (CONFIG=examples/config.yaml to use the demo's stand-in).
run: certs
	$(CARGO) build --bin scopegate
	$(BIN) serve --listen $(LISTEN) --tls-cert certs/tls.crt --tls-key certs/tls.key $(if $(CONFIG),--config $(CONFIG),)

demo:
	./scripts/demo.sh

clean:
	$(CARGO) clean
	rm -f certs/*.crt certs/*.key
