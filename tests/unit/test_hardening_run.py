"""Runs that must be refused, and inputs that must not end in a traceback (issue 14).

A refused run exits 2 with a sentence and changes nothing: no run record when refused
before any step ran (the choice documented in ``dwt.pipeline.runner``), a ``failed``
record with the reason when collection ran first.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from clirun import dwt
from dwt.pipeline.progress import Progress
from dwt.pipeline.runner import RunRefused, run_pipeline
from dwt.pipeline.spec import MAX_SHARDS, RunSpec, Step
from dwt.store import Coll, Store
from results import shown, shown_members
from sample_week import load_sample

NOW = "2026-11-28T00:00:00+00:00"
RESULTS = (Coll.BONDS, Coll.CLUSTERS, Coll.CONVERSATIONS)


@pytest.fixture
def analysed(store_url: str) -> str:
    """The sample community with a week's results stored."""
    load_sample(Store.open(store_url))
    steps = "discover,bonds,cluster,content"
    assert (
        dwt(store_url, ["run", "--now", NOW, "--no-ray", "--community", "sample", "--steps", steps])
        == 0
    )
    return store_url


def _snapshot(url: str) -> dict:
    store = Store.open(url)
    results = {c: sorted(store[c].find(), key=lambda d: d["_id"]) for c in RESULTS}
    members = {
        a: (m.get("cluster"), m.get("activity"), m.get("run_id"))
        for a, m in shown_members(store, "sample").items()
    }
    return {"results": results, "members": members, "runs": store[Coll.RUNS].count_documents({})}


def _run(url: str, *args: str) -> int:
    return dwt(url, ["run", "--no-ray", *args])


@pytest.mark.parametrize(
    ("now", "message"),
    [
        ("2020-01-01", "no tweet of the 4 members of 'sample'"),  # an empty window
        ("1970-01-01", "before X existed"),
        ("2999-01-01", "in the future"),
    ],
)
def test_a_run_on_a_window_without_tweets_is_refused_and_keeps_the_results(
    analysed, capsys, now, message
):
    before = _snapshot(analysed)
    assert before["results"][Coll.BONDS] and before["results"][Coll.CONVERSATIONS]
    assert {c for c, _, _ in before["members"].values()} != {-1}
    capsys.readouterr()
    code = _try(analysed, "--community", "sample", "--steps", "bonds,cluster,content", "--now", now)
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert _snapshot(analysed) == before  # results, member clusters, and no run record


def _try(url: str, *args: str) -> int:
    """``dwt run`` whether the refusal comes from the handler or from argparse."""
    try:
        return _run(url, *args)
    except SystemExit as exc:  # argparse refuses a flag value with exit 2
        return int(exc.code or 0)


def test_empty_window_says_how_to_run_anyway_and_allow_empty_does(analysed, capsys):
    args = ("--community", "sample", "--steps", "bonds,cluster,content", "--now", "2020-01-01")
    assert _run(analysed, *args) == 2
    assert "--allow-empty" in capsys.readouterr().err
    assert _run(analysed, *args, "--allow-empty", "--json") == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    counts = out["counts"]
    assert out["status"] == "succeeded" and counts["tweets"] == 0
    # Follows alone still make bonds, but with no tweet every member is silent: no cluster.
    assert counts["clusters"] == 0 and counts["isolated"] > 0
    store = Store.open(analysed)
    assert store[Coll.CLUSTERS].count_documents(store.shown(Coll.CLUSTERS, "sample")) > 0
    assert not shown(store, Coll.CLUSTERS, "sample", cluster={"$gte": 0})


def test_unknown_community_is_refused_and_records_no_run(analysed, capsys, monkeypatch):
    monkeypatch.setenv("DWT_API_KEYS", "a-key")  # all steps, collection included
    monkeypatch.setenv("DWT_X_API_BASE_URL", "http://127.0.0.1:9")  # never reached
    runs = Store.open(analysed)[Coll.RUNS].count_documents({})
    assert _run(analysed, "--community", "nosuch", "--now", NOW) == 2
    err = capsys.readouterr().err
    assert "no community 'nosuch'" in err and "known: sample" in err
    assert Store.open(analysed)[Coll.RUNS].count_documents({}) == runs


@pytest.mark.parametrize("action", [["list"], ["remove", "someone"]])
def test_members_of_an_unknown_community(analysed, capsys, action):
    verb, *rest = action
    assert dwt(analysed, ["members", verb, "--community", "nosuch", *rest]) == 2
    assert "no community 'nosuch'" in capsys.readouterr().err
    assert dwt(analysed, ["members", "list", "--community", "sample"]) == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--shards", "-2"], f"--shards: must be within 1-{MAX_SHARDS}, got -2"),
        (["--shards", "0"], f"--shards: must be within 1-{MAX_SHARDS}"),
        (["--shards", "two"], "--shards: not a whole number"),
        (["--window-days", "0"], "greater than or equal to 1"),
        (["--window-days", "400"], "less than or equal to 30"),
        (["--now", "yesterday"], "not an ISO time"),
    ],
)
def test_bad_numbers_are_refused(analysed, capsys, args, message):
    before = _snapshot(analysed)
    assert _try(analysed, "--community", "sample", "--now", NOW, *args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert _snapshot(analysed) == before


def test_a_naive_now_is_utc(analysed, capsys):
    assert _run(analysed, "--community", "sample", "--steps", "bonds", "--now", "2026-11-28",
                "--run-id", "naive") == 0  # fmt: skip
    run = Store.open(analysed)[Coll.RUNS].find_one({"_id": "naive"})
    assert run["params"]["window"]["until"] == NOW


def test_empty_window_after_collection_fails_the_run_with_the_reason(store):
    load_sample(store)

    def collect_nothing(week, run_id):
        return {"tweets_new": 0}

    with pytest.raises(RunRefused, match="no tweet of the 4 members"):
        run_pipeline(
            store,
            RunSpec(community="sample", steps=["collect", "bonds"]),
            run_id="quiet",
            now=datetime(2020, 1, 1, tzinfo=UTC),
            progress=Progress(store, "quiet", stream=None),
            steps={Step.COLLECT: collect_nothing},
        )
    run = store[Coll.RUNS].find_one({"_id": "quiet"})
    assert run["status"] == "failed" and run["error"].startswith("refused: no tweet")
    assert run["progress"]["collect"]["state"] == "done"
    assert "bonds" not in run["progress"]


# --- specs that used to end in a traceback ---------------------------------------------
def test_a_deeply_nested_yaml_spec_is_a_clear_error(analysed, tmp_path: Path, capsys):
    spec = tmp_path / "deep.yaml"
    spec.write_text("[" * 10_000 + "]" * 10_000)
    assert _run(analysed, "--spec", str(spec), "--now", NOW) == 2
    err = capsys.readouterr().err
    assert "nested too deeply" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "text", ["[" * 10_000 + "]" * 10_000, '"just a string"', "[1, 2]", "42", "null"]
)
def test_spec_json_that_is_not_a_spec(analysed, capsys, text):
    code = _run(analysed, "--spec-json", text, "--now", NOW)
    err = capsys.readouterr().err
    assert code == 2 and "invalid spec" in err, err


def test_a_yaml_scalar_spec_file(analysed, tmp_path: Path, capsys):
    spec = tmp_path / "scalar.yaml"
    spec.write_text("just words\n")
    assert _run(analysed, "--spec", str(spec), "--now", NOW) == 2
    assert "must be a mapping" in capsys.readouterr().err


def test_a_failed_step_tells_why_without_a_traceback(analysed, tmp_path: Path):
    """The product's own errors are one line on the terminal; the traceback is at debug."""
    import os
    import subprocess
    import sys

    store = Store.open(analysed)
    store[Coll.PLACEMENTS].delete_many({})  # content needs the members' clusters
    env = {**os.environ, "DWT_STORE_URL": analysed}
    args = ["run", "--community", "sample", "--steps", "content", "--now", NOW, "--no-ray"]

    def dwt_cli(*extra: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "dwt.cli", *extra, *args]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)

    done = dwt_cli()
    assert done.returncode == 1
    assert "no clusters stored" in done.stderr and "Traceback" not in done.stderr
    assert "Traceback" in dwt_cli("--log-level", "DEBUG").stderr
