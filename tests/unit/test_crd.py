"""The CommunityJob CRD: generated from the spec model, committed without drift, valid for
Kubernetes, and refusing bad specs the way the API server will."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from dwt.pipeline.spec import CommunityJobSpec
from dwt.stages.weights import BondWeights
from dwt_operator import crd

REPO = Path(__file__).resolve().parents[2]
COMMITTED = REPO / "manifests" / "crds" / "communityjobs.yaml"
EXAMPLES = sorted((REPO / "manifests" / "examples").glob("*.yaml"))


def _schema() -> dict:
    return crd.crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def _validate(obj: dict) -> None:
    # OpenAPI v3.0 schemas use draft-4 semantics (boolean exclusiveMinimum).
    jsonschema.Draft4Validator(_schema()).validate(obj)


def _job(**spec) -> dict:
    return {
        "apiVersion": "discoverweekly.io/v1alpha1",
        "kind": "CommunityJob",
        "metadata": {"name": "x"},
        "spec": {"community": "ai-ethics", **spec},
    }


def test_committed_crd_is_the_generated_one():
    assert COMMITTED.read_text() == crd.render(), "run: python -m dwt_operator.crd " + str(
        COMMITTED.relative_to(REPO)
    )


def test_crd_is_a_valid_kubernetes_object():
    kubernetes_validate.validate(yaml.safe_load(COMMITTED.read_text()), "1.35", strict=True)


def _walk(node, path="$"):
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from _walk(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, f"{path}[{i}]")


def test_schema_is_structural():
    for path, node in _walk(_schema()):
        assert "$ref" not in node and "anyOf" not in node and "$defs" not in node, path
        assert node.get("additionalProperties") is not False, path
        assert "uniqueItems" not in node, path
        if "properties" in node and not path.endswith(".properties"):
            assert node.get("type") == "object", path


def test_weight_defaults_are_the_code_defaults():
    weights = _schema()["properties"]["spec"]["properties"]["weights"]["properties"]
    assert {k: v["default"] for k, v in weights.items()} == BondWeights().to_dict()


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_examples_validate_and_parse(example: Path):
    obj = yaml.safe_load(example.read_text())
    _validate(obj)
    CommunityJobSpec.model_validate(obj["spec"])


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"community": "Not A DNS Label"}, "community"),
        ({"steps": ["collect", "dance"]}, "steps"),
        ({"steps": []}, "steps"),
        ({"weights": {"reply": -1}}, "reply"),
        ({"windowDays": 0}, "windowDays"),
        ({"concurrencyPolicy": "Allow"}, "concurrencyPolicy"),
        ({"schedule": "every monday"}, "schedule"),
        ({"backoffLimit": 99}, "backoffLimit"),
        ({"members": {"scope": "some"}}, "scope"),
        ({"content": {"eps": 0}}, "eps"),
        ({"collection": {"workersPerKey": 0}}, "workersPerKey"),
    ],
)
def test_bad_specs_are_refused_by_the_schema_and_the_model(spec, field):
    with pytest.raises(jsonschema.ValidationError) as refused:
        _validate(_job(**spec))
    assert field in str(refused.value.path) + refused.value.message + str(refused.value.schema_path)
    with pytest.raises(ValueError):
        CommunityJobSpec.model_validate(_job(**spec)["spec"])


def test_missing_community_is_refused():
    job = _job()
    del job["spec"]["community"]
    with pytest.raises(jsonschema.ValidationError, match="community"):
        _validate(job)


def test_unknown_time_zone_is_refused_by_the_model():
    # The API server cannot know IANA zones; the operator refuses the spec with a message.
    with pytest.raises(ValueError, match="unknown time zone"):
        CommunityJobSpec.model_validate({"community": "a", "timeZone": "Mars/Olympus"})
