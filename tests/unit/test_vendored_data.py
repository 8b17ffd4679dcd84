"""The real data vendored in tests/data/ is what its README says: byte-for-byte copies with
their checksums, origin and licence, read by the tests from the repository itself."""

from __future__ import annotations

import hashlib

from vendored import DATA, KUBERAY_CRDS, RECORDED


def test_every_vendored_file_has_its_recorded_checksum():
    sums = {}
    for line in (DATA / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split(maxsplit=1)
        sums[name] = digest
    files = sorted(p.relative_to(DATA).as_posix() for p in DATA.glob("*/*.yaml"))
    assert files == sorted(sums), "tests/data/SHA256SUMS does not list exactly the files there"
    for name in files:
        assert hashlib.sha256((DATA / name).read_bytes()).hexdigest() == sums[name], name
    assert len(list(RECORDED.glob("*.yaml"))) == 39
    assert sorted(p.name for p in KUBERAY_CRDS.glob("*.yaml")) == [
        "ray.io_rayclusters.yaml",
        "ray.io_rayjobs.yaml",
    ]


def test_each_source_keeps_its_licence_and_origin():
    readme = (DATA / "README.md").read_text()
    assert "tweepy/tweepy" in readme and "c05ba988177219f1591b3bf03b8896b427c8b233" in readme
    assert "ray-project/kuberay" in readme and "feeaf72" in readme
    assert "MIT License" in (RECORDED / "LICENSE").read_text()
    assert "Apache License" in (KUBERAY_CRDS / "LICENSE").read_text()
