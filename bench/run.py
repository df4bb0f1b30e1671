"""Benchmark otel-dify against its Dify simulator and print one table of figures.

``python -m bench`` (or ``python bench/run.py``) runs, for each app count:

1. a simulator with the added latency, and an exporter worker that polls it
   ``--timed-polls`` times after a first poll: requests per poll against the
   minimum, poll wall time against the ideal (with the injected latency, and
   with the simulator's measured time per request), CPU per poll per app;
2. ``python -m otel_dify run`` against that simulator, once per OTLP protocol:
   time from process start to the first export;
3. on the same simulator, a records worker that polls ``--records-polls``
   times, each after the simulator added ``--records-runs`` finished
   workflow runs: runs whose node executions were read per CPU-second, and
   requests per run;
4. a simulator without latency, and one worker per OTLP protocol that polls
   it back to back: resident memory before the first poll, after ``--polls``
   polls and after ``--fast-polls`` polls.

Every figure is compared with its target and marked PASS or MISS. The exit
status is 0 whether figures pass or miss, and 1 when a measurement failed
or a figure's own check failed (FAIL).
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    # Run as a script: import ``bench`` from the checkout, and drop bench/
    # itself from the path so its module names cannot shadow libraries.
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from bench.control import MAX_RUNS_PER_REQUEST  # noqa: E402 - after the path set-up above
from bench.figures import (  # noqa: E402
    Figure,
    memory_figures,
    not_measured,
    render_table,
    startup_figures,
    timed_figures,
)
from bench.machine import describe_machine, load_average, machine_lines  # noqa: E402
from bench.processes import (  # noqa: E402
    BenchmarkError,
    SimulatorProcess,
    exporter_environment,
    records_run_settings,
    run_worker,
)
from bench.records_figures import records_figures  # noqa: E402
from bench.request_counts import statistics_metric_names  # noqa: E402
from bench.sizes import apps_per_mode  # noqa: E402
from bench.sinks import Sink, make_sink  # noqa: E402
from bench.startup import measure_first_export  # noqa: E402

logger = logging.getLogger("bench")

PROTOCOLS = ("http/protobuf", "grpc")


def _positive_ints(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from error
    if not values:
        raise argparse.ArgumentTypeError("expected at least one app count")
    for value in values:
        try:
            apps_per_mode(value)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from error
    return values


def _protocols(text: str) -> list[str]:
    values = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [value for value in values if value not in PROTOCOLS]
    if unknown or not values:
        raise argparse.ArgumentTypeError(f"expected grpc and/or http/protobuf, got {text!r}")
    return values


def _setting(text: str) -> tuple[str, str]:
    name, separator, value = text.partition("=")
    name = name.strip()
    if not separator or not name.upper().startswith("OTEL_"):
        raise argparse.ArgumentTypeError(f"expected OTEL_NAME=VALUE, got {text!r}")
    return name, value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark otel-dify against its Dify simulator and print one table of figures.",
    )

    size = parser.add_argument_group("sizes")
    size.add_argument("--apps", type=_positive_ints, default=[10, 100, 1000],
                      help="comma-separated app counts, each a multiple of 5 (default: 10,100,1000)")
    size.add_argument("--timed-polls", type=int, default=5,
                      help="steady-state polls of the timed run, after the first poll (default: 5)")
    size.add_argument("--polls", type=int, default=100,
                      help="polls before the first memory checkpoint (default: 100)")
    size.add_argument("--fast-polls", type=int, default=10_000,
                      help="polls in all of a memory run, back to back without latency (default: 10000)")
    size.add_argument("--fast-polls-max-apps", type=int, default=10,
                      help="largest app count whose memory run goes on to --fast-polls; larger ones stop "
                           "after --polls (default: 10)")
    size.add_argument("--records-polls", type=int, default=5,
                      help="polls of the records run, each after new workflow runs; 0 skips the run (default: 5)")
    size.add_argument("--records-runs", type=int, default=100,
                      help="finished workflow runs the simulator adds before each records poll; runs beyond "
                           "OTEL_DIFY_LLM_USAGE_BUDGET (100 by default) stay in the exporter's backlog, and drain "
                           "polls after the last records poll read them (default: 100)")

    setup = parser.add_argument_group("exporter and simulator")
    setup.add_argument("--latency-ms", type=float, default=10.0,
                       help="latency the simulator adds to every request in the timed runs, ms (default: 10)")
    setup.add_argument("--concurrency", type=int, default=4,
                       help="OTEL_DIFY_MAX_CONCURRENCY of the exporter (default: 4, the exporter's default)")
    setup.add_argument("--protocols", type=_protocols, default=list(PROTOCOLS),
                       help="OTLP protocols of the memory and start-up runs (default: http/protobuf,grpc)")
    setup.add_argument("--no-sim-cache", dest="sim_cache", action="store_false",
                       help="let the simulator compute every statistics response again instead of serving "
                            "repeats from memory; its CPU time then adds to the poll times")
    setup.add_argument("--set", dest="settings", type=_setting, action="append", default=[], metavar="OTEL_NAME=VALUE",
                       help="an exporter setting for every measured process, such as "
                            "OTEL_DIFY_RECORDS_ENABLED=none; repeat for more. The records worker adds its record "
                            "levels and turns the statistics metrics off on top")
    setup.add_argument("--seed", type=int, default=1, help="seed of the simulated data (default: 1)")
    setup.add_argument("--days", type=int, default=10, help="days of simulated traffic (default: 10)")

    output = parser.add_argument_group("output")
    output.add_argument("--log-dir", type=Path, default=None,
                        help="directory for the logs of the child processes (default: a new temporary directory)")
    output.add_argument("--json", type=Path, default=None, help="also write the figures and raw results to this file")
    return parser


class Benchmark:
    """Runs the measurements of one invocation and collects their figures."""

    def __init__(self, args: argparse.Namespace, log_dir: Path, sinks: dict[str, Sink]) -> None:
        self.args = args
        self.log_dir = log_dir
        self.sinks = sinks
        self.figures: list[Figure] = []
        self.raw: list[dict[str, object]] = []
        self.failed = False

    def run(self) -> None:
        for apps in self.args.apps:
            self._timed_and_startup(apps)
            self._memory(apps)

    def _exporter_settings(self, base_url: str) -> dict[str, str]:
        settings = exporter_environment(base_url, max_concurrency=self.args.concurrency)
        settings.update(dict(self.args.settings))
        return settings

    def _simulator(self, apps: int, latency_ms: float) -> SimulatorProcess:
        log_path = self.log_dir / f"simulator-{apps}-apps-{latency_ms:g}ms.log"
        return SimulatorProcess(apps, latency_ms, self.args.seed, self.args.days, log_path, cache=self.args.sim_cache)

    def _timed_and_startup(self, apps: int) -> None:
        args = self.args
        logger.info("apps=%d: timed run, %d polls with %g ms latency", apps, args.timed_polls + 1, args.latency_ms)
        try:
            with self._simulator(apps, args.latency_ms) as simulator:
                result = run_worker(
                    ["timed", "--apps", str(apps), "--polls", str(args.timed_polls),
                     "--token-ttl", str(simulator.token_ttl_s)],
                    settings=self._exporter_settings(simulator.base_url),
                    otlp_endpoint=self.sinks["http/protobuf"].endpoint,
                    protocol="http/protobuf",
                    log_path=self.log_dir / f"timed-{apps}-apps.log",
                )
                # The 1-minute load average right after the run tells whether
                # other processes competed for the CPUs while it ran.
                result["load_1min"] = load_average()[0]
                self.raw.append(result)
                self.figures += timed_figures(result, latency_ms=args.latency_ms, concurrency=args.concurrency)

                for protocol in args.protocols:
                    logger.info("apps=%d: start-up run, %s", apps, protocol)
                    log_path = self.log_dir / f"startup-{apps}-apps-{protocol.replace('/', '-')}.log"
                    times = measure_first_export(
                        self._exporter_settings(simulator.base_url), self.sinks[protocol], log_path=log_path
                    )
                    self.raw.append({"mode": "startup", "apps": apps, "protocol": protocol, **vars(times)})
                    self.figures += startup_figures(apps, times, protocol=protocol)

                # Last on this simulator, because the added runs stay in its data.
                if args.records_polls:
                    self._records(apps, simulator)
        except (BenchmarkError, ValueError, KeyError) as error:
            logger.error("apps=%d: timed or start-up run failed: %s", apps, error)
            self.failed = True
            self.figures.append(not_measured(apps, "timed and start-up runs", str(error)))

    def _records(self, apps: int, simulator: SimulatorProcess) -> None:
        args = self.args
        logger.info("apps=%d: records run, %d polls after %d new runs each", apps, args.records_polls, args.records_runs)
        settings = records_run_settings(self._exporter_settings(simulator.base_url), statistics_metric_names())
        try:
            result = run_worker(
                ["records", "--apps", str(apps), "--polls", str(args.records_polls), "--runs", str(args.records_runs)],
                settings=settings,
                otlp_endpoint=self.sinks["http/protobuf"].endpoint,
                protocol="http/protobuf",
                log_path=self.log_dir / f"records-{apps}-apps.log",
            )
            result["load_1min"] = load_average()[0]
            self.raw.append(result)
            figures = records_figures(result)
        except (BenchmarkError, ValueError, KeyError) as error:
            logger.error("apps=%d: records run failed: %s", apps, error)
            self.failed = True
            self.figures.append(not_measured(apps, "records run", str(error)))
            return

        self.figures += figures
        if any(figure.result == "FAIL" for figure in figures):
            self.failed = True

    def _memory(self, apps: int) -> None:
        args = self.args
        fast = apps <= args.fast_polls_max_apps
        total_polls = args.fast_polls if fast else args.polls
        skipped = "" if fast else f"more apps than --fast-polls-max-apps {args.fast_polls_max_apps}"
        try:
            with self._simulator(apps, 0.0) as simulator:
                for protocol in args.protocols:
                    logger.info("apps=%d: memory run, %s, %d polls", apps, protocol, total_polls)
                    started = time.monotonic()
                    result = run_worker(
                        ["memory", "--apps", str(apps), "--polls", str(args.polls), "--fast-polls", str(total_polls)],
                        settings=self._exporter_settings(simulator.base_url),
                        otlp_endpoint=self.sinks[protocol].endpoint,
                        protocol=protocol,
                        log_path=self.log_dir / f"memory-{apps}-apps-{protocol.replace('/', '-')}.log",
                    )
                    logger.info("apps=%d: memory run, %s, took %.0f s", apps, protocol, time.monotonic() - started)
                    self.raw.append({**result, "protocol": protocol})
                    self.figures += memory_figures(result, protocol=protocol, fast_polls_skipped=skipped)
        except (BenchmarkError, ValueError, KeyError) as error:
            logger.error("apps=%d: memory run failed: %s", apps, error)
            self.failed = True
            self.figures.append(not_measured(apps, "memory runs", str(error)))


def check_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Exit through ``parser.error`` (status 2) for counts that cannot make a run."""
    if args.timed_polls < 1:
        parser.error("--timed-polls must be at least 1")
    if args.polls < 1:
        parser.error("--polls must be at least 1")
    if args.fast_polls < args.polls:
        parser.error("--fast-polls must be at least --polls")
    if not 1 <= args.concurrency <= 64:
        parser.error("--concurrency must be between 1 and 64, as OTEL_DIFY_MAX_CONCURRENCY")
    if args.latency_ms <= 0:
        parser.error("--latency-ms must be positive: the ideal poll time is requests x latency / concurrency")
    if args.records_polls < 0:
        parser.error("--records-polls must be 0 or more")
    if not 1 <= args.records_runs <= MAX_RUNS_PER_REQUEST:
        parser.error(f"--records-runs must be between 1 and {MAX_RUNS_PER_REQUEST}")


#: Endings of setting names whose values the printed header hides, such as
#: OTEL_DIFY_PASSWORD or OTEL_EXPORTER_OTLP_HEADERS (which can carry a token).
SECRET_NAME_ENDINGS = ("PASSWORD", "_KEY", "_KEYS", "SALT", "TOKEN", "SECRET", "HEADERS")


def settings_line(settings: list[tuple[str, str]]) -> str | None:
    """Return the ``settings:`` header line for the ``--set`` values, or None when none were given.

    Each ``NAME=VALUE`` is quoted as a shell word, so a value with spaces
    stays one item. Values of names with a ``SECRET_NAME_ENDINGS`` ending
    show as ``***``. A name given twice shows twice, in order, and the
    exporter gets the last value.
    """
    if not settings:
        return None

    shell_words = []
    for name, value in settings:
        if name.upper().endswith(SECRET_NAME_ENDINGS):
            value = "***"
        shell_words.append(shlex.quote(f"{name}={value}"))
    return "settings: " + " ".join(shell_words)


def summary_line(app_count: int, elapsed_s: float, log_dir: Path) -> str:
    """Return the last line of the report: app counts measured, minutes taken and the log directory."""
    noun = "app count" if app_count == 1 else "app counts"
    return f"{app_count} {noun} measured in {elapsed_s / 60:.1f} min; child process logs in {log_dir}"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    check_arguments(parser, args)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)

    log_dir = args.log_dir or Path(tempfile.mkdtemp(prefix="otel-dify-bench-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    logger.info("child process logs in %s", log_dir)

    # The timed runs always export over HTTP, so its sink always runs.
    sinks = {protocol: make_sink(protocol) for protocol in {"http/protobuf", *args.protocols}}
    started = time.monotonic()
    load_at_start = load_average()
    for sink in sinks.values():
        sink.start()
    try:
        benchmark = Benchmark(args, log_dir, sinks)
        benchmark.run()
    finally:
        for sink in sinks.values():
            sink.stop()

    elapsed_s = time.monotonic() - started
    machine = describe_machine()
    load_at_end = load_average()
    print("\n".join(machine_lines(machine)))
    # Other processes on the machine slow the wall-time figures down; the
    # load average shows whether there were any.
    print(f"load average (1 min): {load_at_start[0]:.2f} at start, {load_at_end[0]:.2f} at end")
    settings = settings_line(args.settings)
    if settings is not None:
        print(settings)
    print()
    print(render_table(benchmark.figures))
    print()
    print(summary_line(len(args.apps), elapsed_s, log_dir))
    if args.json is not None:
        document = {
            "machine": machine,
            "load_average": {"start": load_at_start, "end": load_at_end},
            "arguments": {key: str(value) for key, value in vars(args).items()},
            "elapsed_s": elapsed_s,
            "figures": [figure.as_dict() for figure in benchmark.figures],
            "raw": benchmark.raw,
        }
        args.json.write_text(json.dumps(document, indent=2) + "\n")
    return 1 if benchmark.failed else 0


if __name__ == "__main__":
    sys.exit(main())
