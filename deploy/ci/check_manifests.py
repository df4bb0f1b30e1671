"""Check the rendered deployment files for the settings that the schemas do not enforce.

CI only. kubernetes-validate and ``docker-compose config`` check structure and
types. This script checks what the files promise: the hardening of every
container, the probes, the loopback-only receivers and one replica. It also
checks that the sidecars equal the base's containers, that the CI variant uses
local images, and that compose publishes ports on loopback only.
.ci/deploy.sh runs::

    python deploy/ci/check_manifests.py --base base.yaml --sidecar sidecar.yaml \
        --ci ci.yaml --compose compose.json

where the YAML files are ``kubectl kustomize`` output and compose.json is
``docker-compose config --format json``. Exit code 0 on success, 1 with one
line per failed condition otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml

Manifest = dict[str, Any]

EXPORTER_CONTAINER = "otel-dify"
COLLECTOR_CONTAINER = "otel-collector"
NONROOT_ID = 65532
HEALTH_PORT = 8890

EXPECTED_CONTAINER_SECURITY = {
    "runAsNonRoot": True,
    "runAsUser": NONROOT_ID,
    "runAsGroup": NONROOT_ID,
    "readOnlyRootFilesystem": True,
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}

RESOURCE_ATTRIBUTE_KEYS = ("k8s.pod.name", "k8s.namespace.name", "k8s.container.name")


class Checker:
    """Collects failed conditions instead of stopping at the first."""

    def __init__(self) -> None:
        self.failures: list[str] = []

    def expect(self, condition: bool, message: str) -> None:
        if not condition:
            self.failures.append(message)


def load_manifests(path: Path) -> list[Manifest]:
    return [document for document in yaml.safe_load_all(path.read_text(encoding="utf-8")) if document]


def find(manifests: list[Manifest], kind: str, name: str) -> Manifest | None:
    for manifest in manifests:
        if manifest["kind"] == kind and manifest["metadata"]["name"] == name:
            return manifest
    return None


def containers_by_name(deployment: Manifest) -> dict[str, Manifest]:
    return {container["name"]: container for container in deployment["spec"]["template"]["spec"]["containers"]}


def env_values(container: Manifest) -> dict[str, Any]:
    return {item["name"]: item.get("value", item.get("valueFrom")) for item in container.get("env", [])}


def probe_port(container: Manifest, probe: Manifest) -> int | None:
    """Resolve a probe's port, named or numbered, to a number."""
    port = probe["httpGet"]["port"]
    if isinstance(port, int):
        return port
    for declared in container.get("ports", []):
        if declared.get("name") == port:
            return declared["containerPort"]
    return None


def check_hardening(checker: Checker, where: str, containers: dict[str, Manifest]) -> None:
    for name, container in containers.items():
        security = container.get("securityContext", {})
        for key, expected in EXPECTED_CONTAINER_SECURITY.items():
            checker.expect(
                security.get(key) == expected,
                f"{where}: container {name} has securityContext.{key}={security.get(key)!r}, expected {expected!r}",
            )

        resources = container.get("resources", {})
        checker.expect("memory" in resources.get("requests", {}), f"{where}: container {name} requests no memory")
        checker.expect("memory" in resources.get("limits", {}), f"{where}: container {name} has no memory limit")


def check_exporter_container(checker: Checker, where: str, container: Manifest) -> None:
    env = env_values(container)

    checker.expect(env.get("OTEL_DIFY_HEALTH_HOST") == "0.0.0.0", f"{where}: OTEL_DIFY_HEALTH_HOST is not 0.0.0.0")
    checker.expect(
        str(env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "")).startswith("http://127.0.0.1:"),
        f"{where}: OTEL_EXPORTER_OTLP_ENDPOINT is not on the pod's loopback",
    )
    checker.expect(env.get("OTEL_SERVICE_NAME") == "otel-dify", f"{where}: OTEL_SERVICE_NAME is not otel-dify")
    checker.expect(
        env.get("OTEL_DIFY_PASSWORD_FILE") == "/var/run/secrets/otel-dify/password",
        f"{where}: OTEL_DIFY_PASSWORD_FILE is not the mounted Secret",
    )
    attributes = str(env.get("OTEL_RESOURCE_ATTRIBUTES", ""))
    for key in RESOURCE_ATTRIBUTE_KEYS:
        checker.expect(f"{key}=" in attributes, f"{where}: OTEL_RESOURCE_ATTRIBUTES lacks {key}")
    checker.expect(
        any("configMapRef" in source for source in container.get("envFrom", [])),
        f"{where}: the exporter's settings do not come from a ConfigMap",
    )

    for probe_name, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        probe = container.get(probe_name)
        checker.expect(probe is not None, f"{where}: no {probe_name}")
        if probe is not None:
            checker.expect(probe["httpGet"]["path"] == path, f"{where}: {probe_name} does not probe {path}")
            checker.expect(
                probe_port(container, probe) == HEALTH_PORT, f"{where}: {probe_name} does not probe port {HEALTH_PORT}"
            )


def check_collector_config(checker: Checker, manifests: list[Manifest]) -> None:
    config_map = find(manifests, "ConfigMap", "otel-collector")
    checker.expect(config_map is not None, "base: no otel-collector ConfigMap")
    if config_map is None:
        return

    config = yaml.safe_load(config_map["data"]["config.yaml"])
    protocols = config["receivers"]["otlp"]["protocols"]
    for protocol, settings in protocols.items():
        checker.expect(
            settings["endpoint"].startswith("127.0.0.1:"), f"base: the collector's OTLP {protocol} receiver is not on loopback"
        )
    pipeline = config["service"]["pipelines"]["metrics"]
    checker.expect("batch" in pipeline["processors"], "base: the collector's metrics pipeline has no batch processor")
    checker.expect("debug" in pipeline["exporters"], "base: the collector's metrics pipeline has no debug exporter")


def check_base(checker: Checker, manifests: list[Manifest]) -> dict[str, Manifest]:
    deployment = find(manifests, "Deployment", "otel-dify")
    checker.expect(deployment is not None, "base: no otel-dify Deployment")
    if deployment is None:
        return {}

    checker.expect(deployment["spec"]["replicas"] == 1, "base: replicas is not 1")
    checker.expect(deployment["spec"]["strategy"]["type"] == "Recreate", "base: the update strategy is not Recreate")
    checker.expect(
        deployment["spec"]["template"]["spec"].get("automountServiceAccountToken") is False,
        "base: the service account token is mounted",
    )

    containers = containers_by_name(deployment)
    checker.expect(set(containers) == {COLLECTOR_CONTAINER, EXPORTER_CONTAINER}, f"base: containers are {sorted(containers)}")
    check_hardening(checker, "base", containers)
    if EXPORTER_CONTAINER in containers:
        check_exporter_container(checker, "base", containers[EXPORTER_CONTAINER])
    check_collector_config(checker, manifests)
    checker.expect(find(manifests, "Secret", "otel-dify-credentials") is not None, "base: no example Secret")
    return containers


def check_sidecar(checker: Checker, manifests: list[Manifest], base_containers: dict[str, Manifest]) -> None:
    checker.expect(find(manifests, "Deployment", "otel-dify") is None, "sidecar: the standalone Deployment is still there")

    dify_api = find(manifests, "Deployment", "dify-api")
    checker.expect(dify_api is not None, "sidecar: no dify-api Deployment")
    if dify_api is None:
        return

    checker.expect(dify_api["spec"].get("replicas") == 1, "sidecar: dify-api replicas is not 1")
    containers = containers_by_name(dify_api)
    for name, base_container in base_containers.items():
        checker.expect(containers.get(name) == base_container, f"sidecar: container {name} differs from the base's")

    config = find(manifests, "ConfigMap", "otel-dify")
    base_url = (config or {}).get("data", {}).get("OTEL_DIFY_BASE_URL", "")
    checker.expect(base_url.startswith("http://127.0.0.1:"), "sidecar: OTEL_DIFY_BASE_URL is not on the pod's loopback")


def check_ci(checker: Checker, manifests: list[Manifest]) -> None:
    deployment = find(manifests, "Deployment", "otel-dify")
    checker.expect(deployment is not None, "ci: no otel-dify Deployment")
    if deployment is None:
        return

    containers = containers_by_name(deployment)
    for name, container in containers.items():
        checker.expect(container.get("imagePullPolicy") == "Never", f"ci: container {name} may pull its image")
        checker.expect(container["image"].startswith("localhost/"), f"ci: container {name} uses {container['image']}")
    check_hardening(checker, "ci", containers)


def check_compose(checker: Checker, compose: Manifest) -> None:
    services = compose["services"]
    for name in ("otel-dify", "dify-simulator"):
        service = services.get(name)
        checker.expect(service is not None, f"compose: no service {name}")
        if service is None:
            continue
        checker.expect(service.get("user") == f"{NONROOT_ID}:{NONROOT_ID}", f"compose: {name} does not run as {NONROOT_ID}")
        checker.expect("healthcheck" in service, f"compose: {name} has no healthcheck")

    for name, service in services.items():
        checker.expect(service.get("init") is True, f"compose: {name} runs without init")
        checker.expect(service.get("read_only") is True, f"compose: {name} has a writable root filesystem")
        checker.expect(service.get("cap_drop") == ["ALL"], f"compose: {name} keeps capabilities")
        for port in service.get("ports", []):
            checker.expect(port.get("host_ip") == "127.0.0.1", f"compose: {name} publishes port {port.get('published')} beyond loopback")

    checker.expect("demo" in services.get("dify-simulator", {}).get("profiles", []), "compose: the simulator is not in the demo profile")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, required=True, help="kubectl kustomize output of deploy/kubernetes/base")
    parser.add_argument("--sidecar", type=Path, required=True, help="output of the dify-api-sidecar overlay")
    parser.add_argument("--ci", type=Path, required=True, help="output of deploy/kubernetes/ci")
    parser.add_argument("--compose", type=Path, required=True, help="docker-compose config --format json output")
    args = parser.parse_args(argv)

    checker = Checker()
    base_containers = check_base(checker, load_manifests(args.base))
    check_sidecar(checker, load_manifests(args.sidecar), base_containers)
    check_ci(checker, load_manifests(args.ci))
    check_compose(checker, json.loads(args.compose.read_text(encoding="utf-8")))

    for failure in checker.failures:
        print(f"FAIL {failure}")
    if checker.failures:
        return 1
    print("OK manifests and compose file")
    return 0


if __name__ == "__main__":
    sys.exit(main())
