"""The CommunityJob CRD: generated from the spec model, committed without drift, valid for
Kubernetes, and refusing bad specs the way the API server will."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml
from pydantic.alias_generators import to_camel

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
    assert {k: v["default"] for k, v in weights.items()} == {
        to_camel(k): v for k, v in BondWeights().to_dict().items()
    }


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
        # Numbers past their maximum (each broke a handler) and garbage schedules.
        ({"weights": {"reply": 1e308}}, "reply"),
        ({"clustering": {"seed": 10**30}}, "seed"),
        ({"activeDeadlineSeconds": 10**14}, "activeDeadlineSeconds"),
        ({"content": {"trendMin": 10**9}}, "trendMin"),
        ({"content": {"minSamples": 10**9}}, "minSamples"),
        ({"schedule": "61 25 * * *"}, "schedule"),
        ({"schedule": "a b c d e"}, "schedule"),
        ({"schedule": "*/0 * * * *"}, "schedule"),
        ({"schedule": "0 0 * * * *"}, "schedule"),
        ({"schedule": "@every 5m"}, "schedule"),
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


# Short names of the built-in resources of a current Kubernetes (`kubectl api-resources`,
# 1.35), including ones removed since (psp) that older clusters still serve.
BUILTIN_SHORT_NAMES = {
    "cm", "cs", "ep", "ev", "limits", "ns", "no", "pvc", "pv", "po", "rc", "quota", "sa",
    "svc", "crd", "crds", "ds", "deploy", "rs", "sts", "hpa", "cj", "csr", "ing", "ip",
    "netpol", "pdb", "psp", "pc", "sc", "vac",
}  # fmt: skip


def test_short_names_collide_with_no_built_in_one():
    names = crd.crd()["spec"]["names"]
    assert names["shortNames"] == ["cjob"]
    assert not set(names["shortNames"]) & BUILTIN_SHORT_NAMES
    committed = yaml.safe_load(COMMITTED.read_text())["spec"]["names"]["shortNames"]
    assert committed == ["cjob"]


def test_every_number_in_the_spec_schema_is_bounded():
    spec = _schema()["properties"]["spec"]
    numbers = {p: n for p, n in _walk(spec) if n.get("type") in ("integer", "number")}
    assert "$.properties.clustering.properties.seed" in numbers
    assert [p for p, n in numbers.items() if "minimum" not in n or "maximum" not in n] == []


def test_the_largest_allowed_values_are_accepted():
    spec = {
        "weights": {"reply": 1_000_000},
        "clustering": {"seed": 2**32 - 1},
        "activeDeadlineSeconds": 30 * 24 * 3600,
        "schedule": "*/15 9-17 * JAN-MAR mon-fri",
    }
    _validate(_job(**spec))
    parsed = CommunityJobSpec.model_validate(_job(**spec)["spec"])
    assert parsed.clustering.seed == 2**32 - 1


@pytest.mark.parametrize(
    "schedule",
    ["0 6 * * *", "@daily", "@midnight", "0 0 29 2 *", "0 0 L * *", "0 9 * * 1#1", "0 0 ? * 0"],
)
def test_ordinary_schedules_pass_the_schema_and_the_model(schedule):
    _validate(_job(schedule=schedule))
    CommunityJobSpec.model_validate({"community": "a", "schedule": schedule})


@pytest.mark.parametrize(
    ("schedule", "said"),
    [
        ("61 25 * * *", "invalid cron schedule"),
        ("a b c d e", "invalid cron schedule"),
        ("0 0 31 2 *", "never fires"),  # the schema's pattern cannot know; the model does
        ("0 0 31 4 *", "never fires"),  # April has 30 days
    ],
)
def test_the_model_says_why_a_schedule_is_refused(schedule, said):
    with pytest.raises(ValueError, match=said) as refused:
        CommunityJobSpec.model_validate({"community": "a", "schedule": schedule})
    assert "String should match pattern" not in str(refused.value)  # not the whole regex
