# scopegate — see README.md and docs/. `make demo` shows it working; `make test` runs every test.
CARGO    ?= cargo
BIN      := target/debug/scopegate
LISTEN   ?= 127.0.0.1:8443
CONFIG   ?=
OVERLAY  ?= self-signed
IMAGE    ?= scopegate:0.1.0

.PHONY: all build test lint unit manifests-check docs docs-serve docs-reference docs-check run certs deploy undeploy image image-check demo bench soak fuzz clean

all: build

build:
	$(CARGO) build --workspace --bins

# Every test: formatting and lints, unit tests, the end-to-end tests over TLS on loopback (tests/docs.rs
# among them: a generated reference page that is stale fails), the deployment manifests (rendered,
# validated, linted; alert rules checked and unit-tested) and the documentation site (built strictly).
test: lint unit manifests-check docs-check

lint:
	@if $(CARGO) fmt --version >/dev/null 2>&1; then $(CARGO) fmt --all -- --check; else echo "rustfmt not installed: skipping the format check"; fi
	@if $(CARGO) clippy --version >/dev/null 2>&1; then $(CARGO) clippy --workspace --all-targets -- -D warnings; else echo "clippy not installed: skipping lints"; fi

unit:
	$(CARGO) test --workspace

# Render every overlay and check it: kubernetes-validate, checkov, promtool. Installs what it needs
# into .tools/ on first use (scripts/tools.sh says from where).
manifests-check:
	$(CARGO) build --bin scopegate
	scripts/manifests-check.sh

# The documentation site (docs/, mkdocs.yml): MkDocs with the Material theme, installed into
# .tools/docs-venv on first use (scripts/tools.sh). `make docs` builds it into site/ (git-ignored),
# `make docs-serve` serves it on DOCS_ADDR and rebuilds as pages change, `make docs-reference` rewrites
# the generated reference pages from the code, and `make docs-check` (part of `make test`) builds the
# site with --strict: a broken link or anchor, or a page missing from the navigation, fails it.
DOCS_ADDR ?= 127.0.0.1:8000
docs:
	scripts/docs.sh build

docs-serve:
	scripts/docs.sh serve $(DOCS_ADDR)

docs-reference:
	$(CARGO) run --quiet --bin scopegate-docs

docs-check:
	CARGO=$(CARGO) scripts/docs.sh check

certs: certs/tls.crt

certs/tls.crt:
	$(CARGO) build --bin scopegate
	$(BIN) certs --out-dir certs --san localhost --san 127.0.0.1 >/dev/null

# Install into the cluster kubectl points at (OVERLAY=self-signed or cert-manager; self-signed uses
# the certificates of `make certs`, FORCE=1 makes new ones), or remove.
deploy:
	$(CARGO) build --bin scopegate
	OVERLAY=$(OVERLAY) FORCE=$(FORCE) scripts/deploy.sh deploy

undeploy:
	OVERLAY=$(OVERLAY) scripts/deploy.sh undeploy

# The container image (needs a Docker engine), and the check CI runs instead: the same release
# binary, and that it runs on the distroless runtime image.
image:
	docker build -t $(IMAGE) .

image-check:
	scripts/check-image-binary.sh

# Serve locally with the dev certificates (CONFIG=examples/config.yaml to use the demo's stand-in).
run: certs
	$(CARGO) build --bin scopegate
	$(BIN) serve --listen $(LISTEN) --tls-cert certs/tls.crt --tls-key certs/tls.key $(if $(CONFIG),--config $(CONFIG),)

demo:
	./scripts/demo.sh

# Load figures (not part of `make test`): cached vs a bare rustls+axum endpoint in the same run,
# uncached against a 50 ms stand-in, peak RSS with 100 000 cached grants; then the watcher with
# 10 000 Secrets sharing 1 000 tokens. BENCH_ARGS="--seconds 20", "--only webhook" or "--only watch".
BENCH_ARGS ?=
bench:
	$(CARGO) build --release --workspace --bins
	target/release/scopegate-bench --scopegate target/release/scopegate $(BENCH_ARGS)

# A minute of everything at once (not part of `make test`): mixed reviews over HTTP/1.1 and HTTP/2,
# stalled connections, provider faults, a certificate rotation, SIGTERM; fails on an unanswered
# request or growing memory. SOAK_SECONDS=60.
SOAK_SECONDS ?= 60
soak:
	$(CARGO) build --release --workspace --bins
	target/release/scopegate-soak --scopegate target/release/scopegate --seconds $(SOAK_SECONDS)

# Fuzz each target for FUZZ_SECONDS (not part of `make test`), seeded from fuzz/seeds/<target> (made from
# the fixtures: fuzz/tools/make_seeds.py): the review path, the configuration parser, Secret URLs and
# host matching, and each provider's answers. A crash is saved under fuzz/artifacts/<target>/; copy
# it to fuzz/regressions/<target>/ and `make test` runs it from then on. cargo-fuzz needs a nightly
# compiler; without one, the stable compiler is asked to allow nightly flags.
FUZZ_SECONDS ?= 120
FUZZ_TARGETS ?= review config url_and_host github gitlab bitbucket_cloud bitbucket_server gitea azure_devops
fuzz:
	@command -v cargo-fuzz >/dev/null || $(CARGO) install --locked cargo-fuzz
	cd fuzz && if rustup run nightly rustc --version >/dev/null 2>&1; then TC=+nightly; else TC=; export RUSTC_BOOTSTRAP=1; fi; \
	  for t in $(FUZZ_TARGETS); do \
	    mkdir -p corpus/$$t; \
	    $(CARGO) $$TC fuzz run $$t corpus/$$t seeds/$$t -- -max_total_time=$(FUZZ_SECONDS) -max_len=65536 \
	      >fuzz-$$t.log 2>&1 || { tail -40 fuzz-$$t.log; echo "fuzz target $$t failed: fuzz/fuzz-$$t.log"; exit 1; }; \
	    echo "$$t: $$(grep -E '^Done [0-9]+ runs' fuzz-$$t.log)"; \
	  done

clean:
	$(CARGO) clean
	@echo "certs/ is kept (a deployed cluster trusts its CA); remove it by hand to start over"
