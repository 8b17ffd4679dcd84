"""``dwt run`` from the command line: spec sources, flags, errors, and Ray fan-out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from clirun import dwt
from dwt.store import Coll, Store
from sample_week import load_sample

pytestmark = pytest.mark.both_stores  # the embedded store and MongoDB (FerretDB)

NOW = "2026-11-28T00:00:00+00:00"


@pytest.fixture
def loaded(store_url: str) -> str:
    load_sample(Store.open(store_url))
    return store_url


def _run(url, *args):
    return dwt(url, ["run", "--now", NOW, "--no-ray", *args])


def test_flags(loaded, capsys):
    assert _run(loaded, "--community", "sample", "--steps", "bonds,cluster", "--json") == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["status"] == "succeeded" and out["counts"]["clusters"] == 1


def test_community_job_file_with_flag_overrides(loaded, tmp_path: Path, capsys):
    job = {
        "apiVersion": "discoverweekly.io/v1alpha1",
        "kind": "CommunityJob",
        "metadata": {"name": "weekly"},
        "spec": {
            "community": "sample",
            "steps": ["bonds"],
            "schedule": "0 6 * * *",
            "weights": {"reply": 1},
        },
    }
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(job))
    assert _run(loaded, "--spec", str(path), "--weights", "retweet=0", "--json") == 0
    run = Store.open(loaded)[Coll.RUNS].find_one()
    assert run["params"]["weights"]["reply"] == 1 and run["params"]["weights"]["retweet"] == 0


def test_progress_lines_for_the_operator(loaded, capsys):
    spec = json.dumps({"community": "sample", "steps": ["bonds"]})
    assert _run(loaded, "--spec-json", spec, "--progress", "--run-id", "job-1") == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("DWT_PROGRESS")]
    assert json.loads(lines[-1].split(" ", 1)[1])["event"] == "summary"
    assert Store.open(loaded)[Coll.RUNS].find_one({"_id": "job-1"})["status"] == "succeeded"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--community", "Bad_Name"], "community"),
        (["--community", "sample", "--steps", "bonds,dance"], "steps"),
        (["--community", "sample", "--weights", "reply=-1"], "greater than or equal to 0"),
        (["--spec", "/no/such/file.yaml"], "No such file"),
    ],
)
def test_bad_specs_exit_2_with_a_message(loaded, capsys, args, message):
    assert _run(loaded, *args) == 2
    assert message in capsys.readouterr().err


def test_failed_step_exits_1(loaded, capsys):
    assert _run(loaded, "--community", "sample", "--steps", "content") == 1
    assert "no clusters stored" in capsys.readouterr().err


@pytest.mark.slow
def test_bonds_sharded_on_ray_equal_in_process(loaded, ray_local):
    store = Store.open(loaded)

    def bonds(*flags: str) -> dict:
        args = [
            "run",
            "--now",
            NOW,
            "--community",
            "sample",
            "--steps",
            "bonds",
            *flags,
        ]
        assert dwt(loaded, args) == 0
        return {d["source_id"]: d["weights"] for d in store[Coll.BONDS].find()}

    local = bonds("--no-ray", "--run-id", "a")
    assert bonds("--ray", "--shards", "3", "--run-id", "b") == local
