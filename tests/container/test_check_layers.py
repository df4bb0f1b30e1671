"""Tests of check_layers on small docker-archives built in memory."""

from __future__ import annotations

import base64
import io
import json
import tarfile
import textwrap
from pathlib import Path

import pytest

from tests.container import check_layers
from tests.container.check_layers import Forbidden, scan_archive

# Any bytes serve as a certificate: the scan compares DER bytes and never parses X.509.
PROXY_DER = bytes(range(200)) + b"proxy-ca"
PUBLIC_DER = bytes(reversed(range(200))) + b"public-ca"


def pem(der: bytes, width: int = 64) -> bytes:
    body = base64.b64encode(der).decode()
    lines = textwrap.wrap(body, width)
    return ("-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n").encode()


def layer_tar(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as layer:
        for path, content in files.items():
            info = tarfile.TarInfo(path)
            info.size = len(content)
            layer.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def write_archive(path: Path, layers: list[dict[str, bytes]], config: dict | None = None) -> Path:
    """Write a docker-archive with one image made of ``layers``, bottom first."""
    members = {"config.json": json.dumps(config or {"history": []}).encode()}
    names = []
    for index, files in enumerate(layers):
        name = f"layer{index}.tar"
        members[name] = layer_tar(files)
        names.append(name)
    members["manifest.json"] = json.dumps([{"Config": "config.json", "RepoTags": ["x:ci"], "Layers": names}]).encode()

    with tarfile.open(path, mode="w") as archive:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return path


@pytest.fixture
def forbidden(tmp_path: Path) -> Forbidden:
    bundle = tmp_path / "bundle.crt"
    bundle.write_bytes(pem(PUBLIC_DER) + pem(PROXY_DER))
    proxy = tmp_path / "proxy.crt"
    proxy.write_bytes(pem(PROXY_DER))

    result = Forbidden(paths={"run/secrets/ca"})
    result.add_file(bundle)
    result.add_certificates(proxy)
    return result


def test_clean_image_passes(tmp_path: Path, forbidden: Forbidden) -> None:
    archive = write_archive(tmp_path / "image.tar", [{"etc/ssl/certs/ca-certificates.crt": pem(PUBLIC_DER)}])

    findings, sizes = scan_archive(archive, forbidden)

    assert findings == []
    assert sizes == {"/etc/ssl/certs": len(pem(PUBLIC_DER))}


def test_bundle_copy_found(tmp_path: Path, forbidden: Forbidden) -> None:
    bundle = (tmp_path / "bundle.crt").read_bytes()
    archive = write_archive(tmp_path / "image.tar", [{"usr/local/share/bundle.pem": bundle}])

    findings, _ = scan_archive(archive, forbidden)
    reasons = {finding.reason for finding in findings}

    assert any(reason.startswith("same content as") for reason in reasons)
    assert any("in PEM form" in reason for reason in reasons)
    assert {finding.path for finding in findings} == {"usr/local/share/bundle.pem"}


def test_rewrapped_certificate_found(tmp_path: Path, forbidden: Forbidden) -> None:
    archive = write_archive(tmp_path / "image.tar", [{"etc/ssl/certs/extra.pem": pem(PROXY_DER, width=76)}])

    findings, _ = scan_archive(archive, forbidden)

    assert len(findings) >= 1
    assert all(finding.path == "etc/ssl/certs/extra.pem" for finding in findings)


def test_der_certificate_found(tmp_path: Path, forbidden: Forbidden) -> None:
    archive = write_archive(tmp_path / "image.tar", [{"opt/app/blob.bin": b"head" + PROXY_DER + b"tail"}])

    findings, _ = scan_archive(archive, forbidden)

    assert [finding.reason for finding in findings] == [f"{forbidden.certificates[PROXY_DER]} in DER form"]


def test_file_in_lower_layer_found(tmp_path: Path, forbidden: Forbidden) -> None:
    # A file deleted by a later layer still ships in the lower layer's tar.
    archive = write_archive(
        tmp_path / "image.tar",
        [{"tmp/ca.pem": pem(PROXY_DER)}, {"tmp/.wh.ca.pem": b""}],
    )

    findings, _ = scan_archive(archive, forbidden)

    assert [finding.layer for finding in findings] == ["layer0.tar"]


def test_forbidden_path_found(tmp_path: Path, forbidden: Forbidden) -> None:
    archive = write_archive(tmp_path / "image.tar", [{"run/secrets/ca": b""}])

    findings, _ = scan_archive(archive, forbidden)

    assert [finding.reason for finding in findings] == ["forbidden path"]


def test_certificate_in_history_found(tmp_path: Path, forbidden: Forbidden) -> None:
    config = {"history": [{"created_by": "RUN echo " + pem(PROXY_DER).decode()}]}
    archive = write_archive(tmp_path / "image.tar", [{}], config=config)

    findings, _ = scan_archive(archive, forbidden)

    assert findings
    assert {finding.layer for finding in findings} == {"config"}


def test_certificate_file_without_pem_rejected(tmp_path: Path) -> None:
    empty = tmp_path / "empty.crt"
    empty.write_text("no certificate here\n")

    with pytest.raises(ValueError, match="contains no PEM certificate"):
        Forbidden().add_certificates(empty)


def test_size_area_groups_site_packages() -> None:
    path = "opt/otel-dify/lib/python3.11/site-packages/grpc/_cython/cygrpc.so"

    assert check_layers.size_area(path) == "/opt/otel-dify/lib/python3.11/site-packages/grpc"
    assert check_layers.size_area("usr/lib/x86_64-linux-gnu/libc.so.6") == "/usr/lib/x86_64-linux-gnu"


def test_main_exit_codes(tmp_path: Path) -> None:
    proxy = tmp_path / "proxy.crt"
    proxy.write_bytes(pem(PROXY_DER))
    clean = write_archive(tmp_path / "clean.tar", [{"etc/hostname": b"x\n"}])
    leaky = write_archive(tmp_path / "leaky.tar", [{"etc/ca.pem": pem(PROXY_DER)}])
    not_an_archive = tmp_path / "plain.tar"
    with tarfile.open(not_an_archive, mode="w"):
        pass

    assert check_layers.main([str(clean), "--forbid-certs", str(proxy)]) == 0
    assert check_layers.main([str(leaky), "--forbid-certs", str(proxy)]) == 1
    assert check_layers.main([str(not_an_archive)]) == 2
