# hakeeper developer entry points.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEB_PACKAGES := iproute2 nftables keepalived tcpdump
STAMP := $(VENV)/.installed

.PHONY: setup test lint typecheck unit lab bench clean

.PHONY: debs
setup: $(STAMP) debs

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Debian packages the tests use: installed only when running as root and missing.
debs:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else \
	    echo "not root: skipping Debian packages:$$missing (tests that need them are skipped)"; \
	  fi; \
	fi

lint: setup
	$(BIN)/ruff check services bus conf tests bench

typecheck: setup
	$(BIN)/mypy --strict services bus conf

unit: setup
	$(BIN)/pytest -q tests/unit

test: setup lint typecheck
	$(BIN)/pytest -q

# The lab builds network namespaces: as root, through sudo when need be. ARGS=--interactive keeps it up.
lab: setup
	@if [ "$$(id -u)" != 0 ]; then \
	  echo "make lab creates network namespaces: running it as root (sudo)"; \
	  exec sudo $(BIN)/python -m tests.lab_main $(ARGS); \
	fi; \
	exec $(BIN)/python -m tests.lab_main $(ARGS)

bench: setup
	set -e; for script in bench/*.py; do echo "== $$script"; $(BIN)/python $$script; done

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache build *.egg-info
