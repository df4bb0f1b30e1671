import urllib.request

import grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc

from bench.sinks import GrpcSink, HttpSink, make_sink

import pytest


def test_http_sink_counts_exports():
    sink = HttpSink()
    sink.start()
    try:
        request = urllib.request.Request(
            sink.endpoint + "/v1/metrics",
            data=b"",
            headers={"Content-Type": "application/x-protobuf"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            status = response.status
        arrived = sink.arrivals.wait_for_count(1, timeout_s=5)
    finally:
        sink.stop()

    assert status == 200
    assert sink.arrivals.count == 1
    assert arrived is not None


def test_grpc_sink_counts_exports():
    sink = GrpcSink()
    sink.start()
    try:
        with grpc.insecure_channel(sink.endpoint.removeprefix("http://")) as channel:
            stub = metrics_service_pb2_grpc.MetricsServiceStub(channel)
            stub.Export(metrics_service_pb2.ExportMetricsServiceRequest(), timeout=5)
        arrived = sink.arrivals.wait_for_count(1, timeout_s=5)
    finally:
        sink.stop()

    assert sink.arrivals.count == 1
    assert arrived is not None


def test_wait_for_count_times_out():
    sink = HttpSink()
    sink.start()
    try:
        assert sink.arrivals.wait_for_count(1, timeout_s=0.05) is None
    finally:
        sink.stop()


def test_sink_stop_twice():
    sink = GrpcSink()
    sink.start()
    sink.stop()
    sink.stop()

    with pytest.raises(RuntimeError, match="not started"):
        HttpSink().endpoint


def test_make_sink_by_protocol():
    assert isinstance(make_sink("grpc"), GrpcSink)
    assert isinstance(make_sink("http/protobuf"), HttpSink)
    with pytest.raises(ValueError, match="http/json"):
        make_sink("http/json")
