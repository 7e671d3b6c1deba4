# The commands a person runs. Setup is `make dev` and `make test`; nothing else.

MOTO_VERSION := 5.2.5
VENV := .venv
VENV_READY := $(VENV)/.ready-moto-$(MOTO_VERSION)

.PHONY: dev test browser-test

## dev: run the whole system locally (emulator, resources, demo data); Ctrl-C stops it
dev: $(VENV_READY)
	tools/dev.sh

## test: install what the tests need and run every test
test: $(VENV_READY)
	tools/test.sh

## browser-test: the page in headless Chromium against the whole local system
browser-test: $(VENV_READY)
	tools/browser-test.sh

# The local AWS emulator, pinned with everything it depends on, in the project's own .venv.
$(VENV_READY): tools/moto/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tools/moto/requirements.txt
	touch $@
