# The commands a person runs. Setup is `make dev` and `make test`; nothing else.

MOTO_VERSION := 5.2.5
VENV := .venv
VENV_READY := $(VENV)/.ready-moto-$(MOTO_VERSION)

.PHONY: dev test fuzz soak browser-test build check-template lint deploy bench bench-before verify page toolchain

## dev: run the whole system locally (emulator, resources, demo data); Ctrl-C stops it
dev: $(VENV_READY) toolchain
	tools/dev.sh

## test: install what the tests need and run every test
test: $(VENV_READY) toolchain
	tools/test.sh

## fuzz: the property tests of every parser of outside input, FUZZ_CASES cases each (default 100,000)
fuzz: toolchain
	tools/fuzz.sh

## soak: the convergence test, longer: more seeds, more events each (SOAK_SEEDS, SOAK_STEPS)
soak: $(VENV_READY) toolchain
	CONVERGENCE_SEEDS=$${SOAK_SEEDS:-200} CONVERGENCE_STEPS=$${SOAK_STEPS:-120} tools/test.sh -p integration-tests -- convergence

## verify: check every list and total of a running `make dev` against the authoritative state
verify: $(VENV_READY) toolchain
	tools/verify.sh

## page: publish web/ again into a running `make dev` (after editing the page)
page: $(VENV_READY) toolchain
	tools/page.sh

## browser-test: the page in headless Chromium against the whole local system
browser-test: $(VENV_READY) toolchain
	tools/browser-test.sh

## build: every function's bootstrap for Lambda on arm64 (target/lambda/<name>/bootstrap)
build: $(VENV_READY) $(VENV)/.ready-cargo-lambda toolchain
	tools/build.sh

## bench: the figures against their targets (target/bench/results.md); arm64 binary sizes once make build has run
bench: $(VENV_READY) toolchain
	tools/bench.sh

## bench-before: meter the write path before issue 29 with the same probe (tools/bench/before-writes.tsv)
bench-before: $(VENV_READY) toolchain
	tools/bench-before.sh

## lint: rustfmt, clippy (warnings are errors) and cargo-deny (deny.toml)
lint: toolchain
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --locked -- -D warnings
	tools/deny.sh

## check-template: cfn-lint and checkov on infra/template.yaml
check-template: $(VENV_READY)
	tools/check-template.sh

## deploy: build, sam deploy (guided the first time), then the page into the stack (README "Deploying to AWS")
deploy: build
	tools/deploy.sh

# The compiler rust-toolchain.toml pins, there before any target runs cargo.
toolchain:
	bash tools/toolchain.sh

$(VENV)/.ready-cargo-lambda: $(VENV_READY)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check 'cargo-lambda==1.9.2' 'ziglang==0.16.0'
	touch $@

# The local AWS emulator and Schemathesis (tools/schemathesis.sh), pinned with everything they
# depend on, in the project's own .venv.
$(VENV_READY): tools/moto/requirements.txt tools/schemathesis/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tools/moto/requirements.txt -r tools/schemathesis/requirements.txt
	touch $@
