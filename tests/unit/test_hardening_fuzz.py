"""Adversarial inputs, kept in the repository (issue 14): property-based fuzzing with
hypothesis of the three places outside input enters the product.

- the spec model: any JSON is a valid :class:`CommunityJobSpec` or a ``ValidationError``;
- the dataset loader: any damaged dataset directory loads (and the emulator can serve it)
  or raises :class:`DatasetError` — never another exception;
- the emulator: any query string on the main endpoints is answered 2xx or 4xx with a JSON
  body — never a 500.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import urllib.parse
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from xapi_fixtures import ALICE, TOKEN, small_world

from dwt.pipeline.spec import CommunityJobSpec
from dwt.xapi.dataset import Dataset, DatasetError
from dwt.xapi.emulator import Emulator, EmulatorConfig
from dwt.xapi.emulator.app import create_app

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- the spec model -----------------------------------------------------------------------
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
)
_json = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
_STEPS = ["collect", "discover", "bonds", "cluster", "content", "x"]
_WEIGHTS = ["tweet", "reply", "quote", "mention", "retweet", "x"]
_CRONS = ["0 6 * * *", "@daily", "0 0 31 2 *", "61 * * * *", "* * * * * *", "0 0 L * *",
          "0 0 ? * 5#3", "0 0 30W * *"]  # fmt: skip
_ZONES = ["UTC", "Europe/Paris", "../etc/passwd", "/", ".", "", "Mars/Olympus", "\x00"]
_FIELDS = {
    "community": st.sampled_from(["sample", "a", "x" * 70, "Bad_Name", "-a", ""])
    | st.text(max_size=70),
    "steps": st.lists(st.sampled_from(_STEPS), max_size=6) | _json,
    "windowDays": st.integers(-5, 40) | _json,
    "weights": st.dictionaries(st.sampled_from(_WEIGHTS), _scalars, max_size=5),
    "members": st.fixed_dictionaries(
        {},
        optional={"scope": st.sampled_from(["all", "new", "listed", "x"]), "accounts": _json},
    ),
    "schedule": st.sampled_from(_CRONS) | st.text(max_size=30),
    "timeZone": st.sampled_from(_ZONES) | st.text(max_size=70),
    "activeDeadlineSeconds": st.integers(-10, 2**40) | _json,
    "clustering": st.fixed_dictionaries(
        {},
        optional={
            "seed": st.integers(-1, 2**40),
            "trials": st.integers(-1, 2000),
            "weightTransform": st.text(max_size=8),
        },
    ),
    "content": st.fixed_dictionaries(
        {}, optional={"eps": _scalars, "trendSigma": _scalars, "bucketMinutes": _scalars}
    ),
}
_spec = st.fixed_dictionaries({}, optional=_FIELDS) | _json


@FUZZ
@given(_spec)
@example({"community": "sample", "schedule": "0 0 31 2 *"})
@example({"community": "sample", "timeZone": "\x00"})
@example({"community": "sample", "timeZone": "/"})
def test_any_json_is_a_spec_or_a_validation_error(raw: Any):
    try:
        spec = CommunityJobSpec.model_validate(raw)
    except ValidationError:
        return
    run = spec.run_spec()  # a valid spec always yields the pipeline's part
    assert run.community == spec.community
    # and survives the trip the operator makes it take (JSON, then `dwt run --spec-json`)
    again = CommunityJobSpec.model_validate(json.loads(spec.model_dump_json(by_alias=True)))
    assert again == spec


# --- the dataset loader -------------------------------------------------------------------
_TABLE_FILES = ("users.parquet", "tweets.parquet", "follows.parquet")

_damage = st.one_of(
    st.tuples(st.just("meta_json"), _json),
    st.tuples(st.just("meta_bytes"), st.binary(max_size=200)),
    st.tuples(st.just("truncate"), st.sampled_from(_TABLE_FILES), st.floats(0, 1)),
    st.tuples(
        st.just("flip"),
        st.sampled_from(_TABLE_FILES),
        st.lists(st.tuples(st.floats(0, 1), st.integers(1, 255)), min_size=1, max_size=8),
    ),
    st.tuples(st.just("bytes"), st.sampled_from(_TABLE_FILES), st.binary(max_size=300)),
    st.tuples(st.just("drop"), st.sampled_from(_TABLE_FILES), st.integers(0, 30)),
    st.tuples(
        st.just("retype"),
        st.sampled_from(_TABLE_FILES),
        st.integers(0, 30),
        st.sampled_from(["int", "float", "text", "null", "junk-ids"]),
    ),
    st.tuples(st.just("remove"), st.sampled_from(("meta.json", *_TABLE_FILES))),
)


def _apply(directory: Path, damage: tuple) -> None:
    kind, *args = damage
    if kind == "meta_json":
        (directory / "meta.json").write_text(json.dumps(args[0]))
    elif kind == "meta_bytes":
        (directory / "meta.json").write_bytes(args[0])
    elif kind == "remove":
        (directory / args[0]).unlink()
    elif kind == "bytes":
        (directory / args[0]).write_bytes(args[1])
    elif kind == "truncate":
        data = (directory / args[0]).read_bytes()
        (directory / args[0]).write_bytes(data[: int(len(data) * args[1])])
    elif kind == "flip":
        data = bytearray((directory / args[0]).read_bytes())
        if not data:
            return
        for where, mask in args[1]:
            data[min(len(data) - 1, int(len(data) * where))] ^= mask
        (directory / args[0]).write_bytes(bytes(data))
    else:  # drop or retype a column
        file = directory / args[0]
        table = pq.read_table(file)
        if not table.num_columns:
            return
        index = args[1] % table.num_columns
        if kind == "drop":
            table = table.remove_column(index)
        else:
            n = table.num_rows
            column = {
                "int": pa.array(range(n), pa.int64()),
                "float": pa.array([0.5] * n),
                "text": pa.array(["x"] * n),
                "null": pa.nulls(n, table.schema.field(index).type),
                "junk-ids": pa.array(["12ab"] * n),
            }[args[2]]
            table = table.set_column(index, table.schema.field(index).name, column)
        pq.write_table(table, file)


@FUZZ
@given(damages=st.lists(_damage, min_size=1, max_size=3))
@example(damages=[("drop", "tweets.parquet", 1)])  # no author_id: used to serve nothing
@example(damages=[("meta_json", [1, 2])])
@example(damages=[("meta_json", {"format": "dwt-dataset/1", "now": "yesterday"})])
@example(damages=[("retype", "tweets.parquet", 0, "junk-ids")])
@example(damages=[("retype", "users.parquet", 3, "text")])
@example(damages=[("flip", "follows.parquet", [(0.0078125, 128)])])  # undecodable names
def test_a_damaged_dataset_is_a_dataset_error(dataset_dir: Path, damages: list[tuple]):
    scratch = Path(tempfile.mkdtemp(prefix="dwt-fuzz-"))
    try:
        copy = Path(shutil.copytree(dataset_dir, scratch / "ds"))
        for damage in damages:
            try:
                _apply(copy, damage)
            except (OSError, pa.ArrowException):  # the damage could not be done: skip it
                continue
        try:
            loaded = Dataset.load(copy)
        except DatasetError as exc:
            assert str(exc)
            return
        # What loads can be served.
        emulator = Emulator(loaded, EmulatorConfig(tokens=(TOKEN,), shift_to_now=False))
        client = create_app(emulator).test_client()
        headers = {"Authorization": f"Bearer {TOKEN}"}
        for user in loaded.users.column("id").to_pylist()[:3]:
            answer = client.get(f"/2/users/{user}/tweets", headers=headers)
            assert answer.status_code < 500, answer.get_data(as_text=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


# --- the emulator's inputs ----------------------------------------------------------------
@pytest.fixture(scope="module")
def client():
    dataset, _ = small_world()
    config = EmulatorConfig(tokens=(TOKEN,), shift_to_now=False, rate_limit=10**9)
    return create_app(Emulator(dataset, config)).test_client()


_PATHS = (
    "/2/users/{id}/tweets",
    "/2/users/{id}/following",
    "/2/users/by",
    "/2/users",
)
_PARAM_NAMES = st.sampled_from(
    [
        "max_results", "pagination_token", "next_token", "start_time", "end_time", "since_id",
        "until_id", "exclude", "expansions", "tweet.fields", "user.fields", "media.fields",
        "place.fields", "poll.fields", "query", "ids", "usernames", "sort_order", "x",
    ]
) | st.text(max_size=10)  # fmt: skip
_VALUES = (
    st.text(max_size=60)
    | st.sampled_from(
        [
            "",
            "0",
            "-1",
            "101",
            "99999999999999999999",
            "2026-11-28T00:00:00Z",
            "2026-13-45T99:99:99Z",
            "author_id,author_id",
            "retweets,replies",
            "(a OR",
            "((((((((((((((((((((x",
            "from:alice -is:retweet",
            "#misc",
            "1001,1002",
            "alice,bob",
            ",,,",
            "7140dibdnow9c7btw4232",
        ]
    )
    | st.text(alphabet='()-"#@: ORAND', max_size=512)
)
_SEGMENT = st.sampled_from([ALICE, "1002", "alice", "0", "99999999999999999999", "-1"]) | st.text(
    min_size=1, max_size=30
)


@FUZZ
@given(
    path=st.sampled_from(_PATHS),
    segment=_SEGMENT,
    params=st.lists(st.tuples(_PARAM_NAMES, _VALUES), max_size=6),
)
@example(
    path="/2/tweets/search/recent", segment="x", params=[("query", "(" * 256 + "x" + ")" * 255)]
)
@example(path="/2/tweets/search/recent", segment="x", params=[("query", "-" * 512)])
@example(
    path="/2/users/{id}/tweets", segment=ALICE, params=[("max_results", "5"), ("max_results", "6")]
)
def test_emulator_answers_any_query_without_a_500(client, path: str, segment: str, params: list):
    url = path.format(
        id=urllib.parse.quote(segment, safe=""), name=urllib.parse.quote(segment, safe="")
    )
    query = urllib.parse.urlencode(params)
    answer = client.get(f"{url}?{query}", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code < 500, answer.get_data(as_text=True)[:500]
    assert 200 <= answer.status_code < 300 or 400 <= answer.status_code < 500
    assert isinstance(json.loads(answer.get_data(as_text=True)), dict)
