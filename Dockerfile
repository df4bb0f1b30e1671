# Container image of otel-dify: a venv built with Debian's python3.11, run on
# distroless python3-debian12 as uid/gid 65532 with no shell.
#
# Build:   docker build -t otel-dify .
# Behind a TLS-intercepting proxy, pass its CA bundle as a build secret. It is
# mounted for the pip steps only and stays out of every layer:
#          docker build --secret id=ca,src=/etc/ssl/certs/ca-certificates.crt -t otel-dify .
#          podman build --format docker --secret id=ca,src=... -t otel-dify .
# Both base images are build arguments, so that a build without registry
# access can pass local ones (.ci/container.sh does).

ARG BUILD_IMAGE=debian:12-slim
ARG RUNTIME_IMAGE=gcr.io/distroless/python3-debian12:nonroot

FROM ${BUILD_IMAGE} AS build

# The venv must be made by Debian's python3.11: the runtime image runs it with
# its own /usr/bin/python3.11, which a venv from a python:3.x image lacks.
# binutils brings strip for the extension modules below.
# DL3008 (pin apt versions) is ignored because Debian replaces a package
# version on its mirrors at each point release, so a pin breaks the build
# within months; the python3.11 of the base image's release is what the
# distroless runtime of the same release has.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv binutils \
    && rm -rf /var/lib/apt/lists/*

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore

# Packaging reads setup.cfg, setup.py, pyproject.toml and README.md (the long
# description); the source itself is otel_dify/.
WORKDIR /src
COPY pyproject.toml setup.cfg setup.py README.md ./
COPY otel_dify ./otel_dify

# One RUN, so that the CA secret is mounted for both pip steps and written to
# no layer. PIP_CERT is set only when the secret was passed, because without
# it the mount target does not exist and pip uses its own CA bundle.
# /opt/build-tools holds pip, setuptools and wheel for the wheel build and is
# never copied to the runtime stage.
RUN --mount=type=secret,id=ca,target=/run/secrets/ca \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi \
    && python3.11 -m venv /opt/build-tools \
    && /opt/build-tools/bin/pip install --quiet "setuptools>=68" wheel \
    && /opt/build-tools/bin/pip wheel --quiet --no-deps --no-build-isolation --wheel-dir /wheels . \
    && python3.11 -m venv /opt/otel-dify \
    && /opt/otel-dify/bin/pip install --quiet --no-compile /wheels/*.whl \
    && /opt/otel-dify/bin/pip uninstall --quiet -y pip setuptools

# The runtime has /usr/bin/python3.11 only, so every interpreter link of the
# venv points there. Without pip the activate scripts and pip's launchers are
# dead weight.
RUN ln -sf /usr/bin/python3.11 /opt/otel-dify/bin/python3 \
    && ln -sf python3 /opt/otel-dify/bin/python \
    && ln -sf python3 /opt/otel-dify/bin/python3.11 \
    && rm -f /opt/otel-dify/bin/activate* /opt/otel-dify/bin/pip* /opt/otel-dify/bin/Activate.ps1

# Wheels ship symbol tables, type stubs and Cython sources that nothing reads
# at run time; stripping the extension modules saves about 7 MB (measured on
# the bookworm build of otel-dify 0.1.0).
RUN find /opt/otel-dify/lib/python3.11/site-packages -name '*.so' -exec strip --strip-unneeded {} + \
    && find /opt/otel-dify/lib/python3.11/site-packages \
        \( -name '*.pyi' -o -name '*.pyx' -o -name '*.pxd' -o -name '*.c' -o -name '*.h' \) -delete

# unchecked-hash .pyc files stay valid whatever mtimes COPY gives the sources,
# so the interpreter never tries to rewrite them on the read-only root.
RUN /opt/otel-dify/bin/python -m compileall -q -f -j 0 --invalidation-mode unchecked-hash \
        /opt/otel-dify/lib/python3.11/site-packages

FROM ${RUNTIME_IMAGE}

ARG VERSION=0.1.0
# NOTE: the project has no public repository URL yet; pass
# --build-arg SOURCE_URL=... when building a published image.
ARG SOURCE_URL=""
ARG REVISION=""

LABEL org.opencontainers.image.title="otel-dify" \
      org.opencontainers.image.description="Push Dify usage (tokens, cost, messages, users, workflow runs) as OpenTelemetry metrics over OTLP" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0"

COPY --from=build /opt/otel-dify /opt/otel-dify

# PYTHONDONTWRITEBYTECODE: every module the image runs is compiled at build
# time; this keeps Python from trying to write .pyc files at run time under a
# read-only root. The health server listens on every interface of the
# container, so that probes from outside it (kubelet, docker) reach it.
ENV PATH=/opt/otel-dify/bin:/usr/local/bin:/usr/bin:/bin \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    OTEL_DIFY_HEALTH_HOST=0.0.0.0 \
    OTEL_DIFY_HEALTH_PORT=8890

USER 65532:65532
WORKDIR /tmp
EXPOSE 8890
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["/opt/otel-dify/bin/otel-dify", "healthcheck"]
ENTRYPOINT ["/opt/otel-dify/bin/otel-dify"]
CMD ["run"]
