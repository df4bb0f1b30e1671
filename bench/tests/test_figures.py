import pytest

from bench.figures import (
    MB,
    Figure,
    memory_figures,
    not_measured,
    render_table,
    startup_figures,
    timed_figures,
)
from bench.startup import StartupTimes


def poll(requests: dict[str, int], minimum: int, duration_s: float, *, first: bool = False) -> dict:
    served = sum(requests.values())
    return {
        "first": first,
        "requests": requests,
        "endpoints": {},
        "minimum": minimum,
        "duration_s": duration_s,
        "cpu_poll_s": 0.0,
        "cpu_export_s": 0.0,
        "server_requests": served,
        # 2.5 ms of handler time and 4 ms of simulator CPU per request.
        "server_handler_s": served * 0.0025,
        "server_cpu_s": served * 0.004,
    }


def timed_result(steady_requests: int = 59, minimum: int = 59, duration_s: float = 0.2) -> dict:
    polls = [poll({"app_list": 1, "statistics": 86, "session": 4}, 91, 0.5, first=True)]
    polls += [poll({"app_list": 1, "statistics": steady_requests - 1}, minimum, duration_s) for _ in range(2)]
    return {"mode": "timed", "apps": 10, "polls": polls, "cpu_steady_s": 0.04, "cpu_export_s": 0.01}


def memory_result(apps: int = 10, polls_rss: int = 50 * MB, fast_rss: int = 51 * MB) -> dict:
    return {
        "mode": "memory",
        "apps": apps,
        "polls": 100,
        "fast_polls": 10_000,
        "start": {"rss": 40 * MB, "anonymous": 30 * MB},
        "after_polls": {"rss": polls_rss, "anonymous": 35 * MB},
        "after_fast_polls": {"rss": fast_rss, "anonymous": 36 * MB},
        "samples": [],
        "elapsed_s": 200.0,
    }


def by_name(figures: list[Figure], name: str) -> Figure:
    matches = [figure for figure in figures if figure.name == name]
    assert len(matches) == 1, f"expected one figure named {name!r}, got {[f.name for f in figures]}"
    return matches[0]


def test_timed_figures_at_minimum():
    figures = timed_figures(timed_result(), latency_ms=10, concurrency=4)

    ratio = by_name(figures, "requests / minimum")
    assert ratio.value == pytest.approx(1.0)
    assert ratio.result == "PASS"


def test_timed_figures_above_minimum():
    figures = timed_figures(timed_result(steady_requests=60), latency_ms=10, concurrency=4)

    assert by_name(figures, "requests / minimum").result == "MISS"


def test_timed_figures_wall_ratio():
    # Ideal: 59 requests x 10 ms / 4 = 0.1475 s.
    figures = timed_figures(timed_result(duration_s=0.1475 * 1.5), latency_ms=10, concurrency=4)

    wall = by_name(figures, "poll wall time / ideal")
    assert wall.value == pytest.approx(1.5)
    assert wall.result == "MISS"


def test_timed_figures_server_time_ratio():
    # Ideal with server time: 59 requests x (10 + 2.5) ms / 4 = 0.184375 s.
    figures = timed_figures(timed_result(duration_s=0.184375 * 1.1), latency_ms=10, concurrency=4)

    measured = by_name(figures, "poll wall time / ideal with measured server time")
    assert measured.value == pytest.approx(1.1)
    assert measured.result == "PASS"
    assert "server handler 2.50 ms per request + 10 ms latency" in measured.text
    assert "simulator CPU 4.00 ms per request" in measured.text
    # The ratio against the injected latency alone stays as it was.
    assert by_name(figures, "poll wall time / ideal").value == pytest.approx(1.1 * 12.5 / 10)


def test_timed_figures_without_server_time():
    result = timed_result()
    for timed_poll in result["polls"]:
        del timed_poll["server_requests"]

    names = [figure.name for figure in timed_figures(result, latency_ms=10, concurrency=4)]

    assert "poll wall time / ideal" in names
    assert "poll wall time / ideal with measured server time" not in names


def test_timed_figures_cpu_per_app():
    # 0.04 s over 2 steady polls and 10 apps is 2 ms per poll per app.
    figures = timed_figures(timed_result(), latency_ms=10, concurrency=4)

    cpu = by_name(figures, "CPU per poll per app")
    assert cpu.value == pytest.approx(2.0)
    assert cpu.result == "MISS"
    assert "export 0.50 ms" in cpu.text


def test_timed_figures_show_load():
    result = timed_result()
    result["load_1min"] = 3.5

    wall = by_name(timed_figures(result, latency_ms=10, concurrency=4), "poll wall time / ideal")

    assert "load 3.5" in wall.text


def test_timed_figures_need_steady_poll():
    result = timed_result()
    result["polls"] = result["polls"][:1]

    with pytest.raises(ValueError, match="steady-state"):
        timed_figures(result, latency_ms=10, concurrency=4)


def test_memory_figures_growth_target():
    figures = memory_figures(memory_result(), protocol="http/protobuf")

    growth = by_name(figures, "RSS HTTP, growth 100 -> 10000 polls")
    assert growth.value == pytest.approx(2.0)
    assert growth.result == "PASS"
    assert by_name(figures, "RSS HTTP, after 100 polls").result == "PASS"


def test_memory_figures_growth_miss():
    figures = memory_figures(memory_result(fast_rss=52 * MB), protocol="grpc")

    assert by_name(figures, "RSS gRPC, growth 100 -> 10000 polls").result == "MISS"


def test_memory_target_only_http_up_to_1000_apps():
    grpc = memory_figures(memory_result(polls_rss=70 * MB, fast_rss=70 * MB), protocol="grpc")
    http_large = memory_figures(memory_result(apps=2000, polls_rss=70 * MB, fast_rss=70 * MB), protocol="http/protobuf")
    http = memory_figures(memory_result(apps=1000, polls_rss=70 * MB, fast_rss=70 * MB), protocol="http/protobuf")

    assert by_name(grpc, "RSS gRPC, after 100 polls").target is None
    assert by_name(http_large, "RSS HTTP, after 100 polls").target is None
    assert by_name(http, "RSS HTTP, after 100 polls").result == "MISS"


def test_memory_figures_fast_polls_skipped():
    figures = memory_figures(memory_result(), protocol="http/protobuf", fast_polls_skipped="too many apps")

    skipped = by_name(figures, "RSS HTTP, growth over fast polls")
    assert skipped.value is None
    assert skipped.result == "n/a"
    assert skipped.note == "too many apps"


def test_startup_figures_include_rss():
    times = StartupTimes(
        first_export_s=1.5, started_s=0.7, first_poll_s=1.4, stop_s=0.2, exit_status=0, rss_after_first_export=60 * MB
    )

    figures = startup_figures(10, times, protocol="grpc")

    first = by_name(figures, "start to first export gRPC")
    assert first.value == pytest.approx(1.5)
    assert "first poll done at 1.40 s" in first.text
    assert by_name(figures, "SIGTERM to exit gRPC").value == pytest.approx(0.2)
    assert by_name(figures, "RSS of otel-dify run gRPC, at first export").value == pytest.approx(60.0)


def test_figure_failure_shows_fail():
    failed = Figure(10, "records: runs processed per CPU-second", 900.0, "900", None, failure="counts differ")

    assert failed.result == "FAIL"
    assert failed.shown_text == "900; check failed: counts differ"
    assert failed.as_dict()["failure"] == "counts differ"


def test_render_table_rows_and_reasons():
    figures = [
        Figure(10, "requests / minimum", 1.0, "1.00", None),
        not_measured(100, "memory runs", "the simulator exited"),
    ]

    lines = render_table(figures).splitlines()

    assert len(lines) == 4
    assert lines[0].startswith("| apps")
    assert "1.00" in lines[2]
    assert "not measured: the simulator exited" in lines[3]
    assert len({len(line) for line in lines}) == 1
