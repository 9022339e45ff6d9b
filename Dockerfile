# GPU image for the app: a Hugging Face Space (sdk: docker) or any host with the NVIDIA container toolkit.
# The CUDA runtime comes from the base image; PyTorch and vLLM wheels bring their own CUDA libraries.
FROM nvidia/cuda:12.8.1-runtime-ubuntu24.04

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

# gcc: Triton compiles small launcher stubs at run time; curl: the health check;
# tesseract, poppler-utils: OCR for scanned PDFs.
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv python3-dev gcc curl ca-certificates \
        tesseract-ocr tesseract-ocr-eng poppler-utils \
    && rm -rf /var/lib/apt/lists/*

# Spaces run the container as uid 1000; Ubuntu's image ships user "ubuntu" with that id.
RUN userdel --remove ubuntu \
    && useradd --create-home --uid 1000 --shell /bin/bash user \
    && python3 -m venv /opt/venv \
    && mkdir -p /data \
    && chown -R user:user /opt/venv /data

USER 1000
WORKDIR /home/user/app

# The GPU lock (`make lock`): every package pinned with its hashes, so the image installs exactly
# what was resolved and tested, not whatever the registry serves on the day of the build.
COPY --chown=user:user requirements-gpu.lock ./
RUN pip install --no-cache-dir --no-deps --require-hashes -r requirements-gpu.lock

COPY --chown=user:user app.py pyproject.toml ./
COPY --chown=user:user rag ./rag
COPY --chown=user:user assets ./assets

# The store and the model cache live in the /data volume (a Space's persistent storage).
ENV RAG_HOST=0.0.0.0 \
    RAG_PORT=7860 \
    RAG_DATA_DIR=/data/rag \
    HF_HOME=/data/huggingface \
    GRADIO_ANALYTICS_ENABLED=False \
    HF_HUB_DISABLE_TELEMETRY=1
VOLUME ["/data"]
EXPOSE 7860

HEALTHCHECK --interval=30s --timeout=5s --start-period=600s --retries=3 \
    CMD ["curl", "--fail", "--silent", "--output", "/dev/null", "http://127.0.0.1:7860/health"]

CMD ["python", "app.py"]
