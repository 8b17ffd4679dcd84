"""The real data vendored under ``tests/data/`` (``tests/data/README.md`` says what it is,
where it comes from and its licence). It is part of the repository: a test that cannot find
it fails, it never skips."""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
#: VCR cassettes of real X API v2 answers (tweepy's test suite, MIT).
RECORDED = DATA / "x-api-v2-recorded"
#: KubeRay's published CRDs (Apache-2.0).
KUBERAY_CRDS = DATA / "kuberay-crds"


def kuberay_crd_file(plural: str = "rayclusters") -> Path:
    """KubeRay's published CRD of ``plural`` (``rayclusters`` or ``rayjobs``)."""
    return KUBERAY_CRDS / f"ray.io_{plural}.yaml"
