"""From the command line: members added by username, then ``dwt run --steps collect``
against the emulator over HTTP, then the insight steps on what was collected."""

from __future__ import annotations

import json

import pyarrow.compute as pc
import pytest

from dwt.cli import main
from dwt.store import Coll, Store
from dwt.store.runs import month_spend

pytestmark = pytest.mark.both_stores  # the embedded store and MongoDB (FerretDB)


@pytest.mark.calendar
def test_members_then_collect_then_insights(emulator_env, emulated, capsys):
    dataset, _ = emulated
    users = dataset.users.filter(dataset.users["is_member"])
    active = users.filter(pc.equal(users["state"], "active")).column("username").to_pylist()
    _, running = emulated
    running.emulator.billing.advance(86_400)  # a new UTC day: X bills every resource again
    before = running.stats()["bill"]
    assert main(["members", "add", "--community", "demo", *active[:20]]) == 0
    out = capsys.readouterr().out
    assert "added 20 member(s)" in out
    # X bills each user a lookup returns; the command says what it cost
    assert "looked up on X: 20 user lookups $0.20 = $0.20" in out
    looked_up = running.stats()["bill"]
    assert looked_up["user_lookups"] - before["user_lookups"] == 20
    code = main(
        [
            "run",
            "--community",
            "demo",
            "--steps",
            "collect,bonds,cluster,content",
            "--window-days",
            "2",
            "--no-ray",
            "--json",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    counts = result["counts"]
    assert counts["accounts"] == 20 and counts["tweets_new"] > 0 and counts["failed"] == 0
    store = Store.open(emulator_env)
    assert store[Coll.TWEETS].count_documents({}) == counts["tweets_new"]
    assert counts["clusters"] >= 1 and counts["conversations"] > 0
    assert "collect: 1 API key(s)" in err
    # The run's charges, item by item, are what X (the emulator) billed; the month adds
    # the lookup to them.
    bill = running.stats()["bill"]
    collection, month = result["collection"], result["month"]
    assert collection["post_reads"] == counts["post_reads"] == counts["tweets_fetched"]
    assert collection["charges"]["posts"] == bill["posts"] - looked_up["posts"]
    following = bill["following_accounts"] - looked_up["following_accounts"]
    assert collection["charges"]["following_accounts"] == following == counts["follows"]
    billed = bill["usd"]["total"] - looked_up["usd"]["total"]
    assert collection["spend_usd"] == pytest.approx(billed, abs=1e-6)
    assert collection["capped"] is False and "plan" not in collection
    # the ledger holds the lookup and the run: all X billed; the summary's month is its own
    ledger = store[Coll.CHARGES].find({"community": "demo"})
    total = sum(d["usd"] for d in ledger)
    assert total == pytest.approx(bill["usd"]["total"] - before["usd"]["total"], abs=1e-3)
    spent = month_spend(store, "demo", month["month"])["spend_usd"]
    assert month["spent_usd"] == pytest.approx(spent, abs=1e-4)
    assert month["forecast_usd"] >= month["spent_usd"]


def test_run_summary_shows_spend_and_the_cap(emulator_env, emulated, capsys):
    dataset, _ = emulated
    active = [u["username"] for u in dataset.users.to_pylist() if u["is_member"]][:10]
    assert main(["members", "add", "--community", "demo", *active]) == 0
    spec = '{"community": "demo", "steps": ["collect"], "collection": {"maxPostReads": 150}}'
    # a run stopped at a cap is neither a success nor a failure: exit 3, one sentence
    assert main(["run", "--spec-json", spec, "--window-days", "2", "--no-ray"]) == 3
    out, err = capsys.readouterr()
    assert "collection stopped at collection.maxPostReads 150 after" in err
    assert "the next run resumes" in err
    assert "X billed" in out and "post reads 150" in out and ": capped" in out
    stopped = next(line for line in out.splitlines() if "skipped" in line)
    assert "user_tweets" in stopped
    assert "month " in out and "spent" in out


def test_unknown_usernames_are_reported_not_added(emulator_env, capsys):
    assert main(["members", "add", "--community", "demo", "nosuchuser42"]) == 1
    assert "@nosuchuser42: not found" in capsys.readouterr().err


def test_invalid_usernames_are_refused_before_asking_x(emulator_env, emulated, capsys):
    _, running = emulated
    before = running.stats()["requests"]
    assert main(["members", "add", "--community", "demo", "no such user!"]) == 2
    assert "not a valid X username" in capsys.readouterr().err
    assert running.stats()["requests"] == before


def test_collect_without_keys_stops_before_any_work(emulator_env, monkeypatch, capsys):
    monkeypatch.delenv("DWT_API_KEYS")
    assert main(["run", "--community", "demo", "--steps", "collect", "--no-ray"]) == 2
    assert "no X API keys configured" in capsys.readouterr().err


@pytest.mark.slow
def test_no_ray_collects_on_threads_even_with_ray_up(emulator_env, emulated, capsys, ray_local):
    """With a Ray runtime already up in the process, `--no-ray` used to collect on Ray
    actors anyway; they do not see this process's keys (DWT_API_KEYS) and the run failed."""
    dataset, _ = emulated
    users = dataset.users.filter(dataset.users["is_member"])
    active = users.filter(pc.equal(users["state"], "active")).column("username").to_pylist()
    assert main(["members", "add", "--community", "demo", *active[:5]]) == 0
    argv = ["run", "--community", "demo", "--steps", "collect", "--window-days", "2", "--json"]
    assert main([*argv, "--no-ray"]) == 0, capsys.readouterr().err
    counts = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["counts"]
    assert counts["accounts"] == 5 and counts["failed"] == 0
