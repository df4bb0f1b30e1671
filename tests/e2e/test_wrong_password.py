"""``otel-dify run`` with a wrong password: it keeps running, is alive but not ready, and logs in only once."""

from __future__ import annotations

import json
import secrets
import urllib.request
from urllib.error import HTTPError

from otel_dify.simulator import run_simulator
from tests.e2e.environment import GRPC, exporter_environment
from tests.e2e.processes import POLL_FINISHED, wait_for, wait_for_message


def get_json(url: str) -> tuple[int, dict[str, object]]:
    """GET ``url`` and return the status code and the JSON body, for 2xx and error statuses alike."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read())
    except HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


async def test_wrong_password_not_ready(make_simulator, launcher, otlp_sink, output_ledger):
    simulator = make_simulator(profile="1.15", seed=53)
    wrong_password = "wrong-password-" + secrets.token_hex(8)
    output_ledger.add_secret(wrong_password, "wrong password")
    async with run_simulator(simulator) as base_url:
        environment = exporter_environment(
            simulator,
            base_url,
            password=wrong_password,
            OTEL_EXPORTER_OTLP_PROTOCOL=GRPC,
            OTEL_EXPORTER_OTLP_ENDPOINT=otlp_sink.endpoint,
        )
        health_url = f"http://127.0.0.1:{environment['OTEL_DIFY_HEALTH_PORT']}"
        process = await launcher.start("run", environment=environment)

        # Three poll intervals of 1 s, each ending in a failed poll.
        await wait_for_message(process, POLL_FINISHED, count=3)
        ready_probe = await launcher.run("healthcheck", "--ready", environment=environment, name="healthcheck-ready")
        ready_status, ready_body = get_json(health_url + "/readyz")
        live_status, live_body = get_json(health_url + "/healthz")
        up_reported = await wait_for(lambda: [value for _, value in otlp_sink.points("dify.exporter.up")] == [0])
        still_running = process.returncode is None

    failed_polls = [record for record in process.log_records() if record.get("message") == POLL_FINISHED]
    assert still_running, process.describe()
    assert all(record.get("workspaces_failed") == 1 for record in failed_polls), process.describe()
    assert ready_probe.returncode == 1, ready_probe.describe()
    assert ready_status == 503
    assert ready_body.get("status") == "not ready"
    assert "failed login" in str(ready_body.get("reason")), ready_body
    assert live_status == 200
    assert live_body == {"status": "ok"}
    assert up_reported, otlp_sink.points("dify.exporter.up")
    assert simulator.login_attempts() == 1
