# Locus: `make run` starts the demo, `make test` runs the whole suite.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
# The OpenID Connect provider the single sign-on tests run (tests/oidc, from npm, pinned).
OIDC_STAMP := tests/oidc/node_modules/.installed-$(shell cat tests/oidc/package-lock.json | cksum | cut -d' ' -f1)
HOST ?= 127.0.0.1
PORT ?= 8000
DEMO_TELEMETRY_RATE ?= 5

.PHONY: install run serve test fuzz lint format bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet ".[dev]"
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

# Without npm, Locus still installs and runs; only the single sign-on tests cannot.
$(OIDC_STAMP): tests/oidc/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
	  npm ci --prefix tests/oidc --no-audit --no-fund --loglevel=error && touch $(OIDC_STAMP); \
	else echo "npm not found: the single sign-on tests need Node.js 20+ (tests/oidc)"; fi

install: $(STAMP) $(OIDC_STAMP)

## Migrate, seed the demo data and serve on http://$(HOST):$(PORT) (ASGI, Daphne), with
## simulated telemetry through the real API so the risk dashboards move (DEMO_TELEMETRY_RATE=0: none).
run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	@echo "Locus is starting on http://$(HOST):$(PORT)/ (stop with Ctrl-C)"
	@if [ "$(DEMO_TELEMETRY_RATE)" -gt 0 ]; then \
	  ( sleep 8; exec $(BIN)/python manage.py simulate_telemetry --rate $(DEMO_TELEMETRY_RATE) \
	      --url http://$(HOST):$(PORT) >$(VENV)/simulator.log 2>&1 ) & \
	  echo "Simulated telemetry: $(DEMO_TELEMETRY_RATE) events/s (log: $(VENV)/simulator.log)"; \
	fi; \
	trap 'kill 0' INT TERM; \
	$(BIN)/daphne -b $(HOST) -p $(PORT) governance.asgi:application

## Lint (ruff, format check, mypy), then the whole test suite, the API fuzzing included
## (tests/test_api_fuzz.py: schemathesis, every phase, as three roles and anonymously).
## Bytecode is written even where the environment says not to (PYTHONDONTWRITEBYTECODE): the
## suite starts dozens of Python processes (servers, workers, commands), and pytest keeps
## its rewritten test modules only beside their bytecode (collecting took 8 s a worker without
## them, 2 s with them).
test: install lint
	PYTHONDONTWRITEBYTECODE= $(BIN)/pytest -n 2 --dist worksteal

## The API fuzzing alone (part of `make test`), to iterate on the API's contract: schemathesis
## against a live server as each role, every phase (README "How it is tested").
fuzz: install
	PYTHONDONTWRITEBYTECODE= $(BIN)/pytest -n 2 -m fuzz tests/test_api_fuzz.py

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	PYTHONPATH=. $(BIN)/mypy

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install
	$(BIN)/python -m pip install --quiet ".[dev,bench]"
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles
