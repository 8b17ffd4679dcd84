"""What one pipeline run does: the part of a CommunityJob's ``spec`` the pipeline reads.

Field names are the CommunityJob's (camelCase); Python code uses the snake_case attributes.
Defaults live here and in :class:`dwt.stages.weights.BondWeights`; the CRD schema is
checked against them by a test. Secrets never appear in a spec: collection names the
Secret (or file) holding the keys, never the keys.

Every number has an upper bound (``le``), so the CRD generated from this model bounds it
too: an unbounded ``activeDeadlineSeconds`` overflowed ``timedelta``, a huge weight made
bond scores infinite and a seed past 32 bits broke Infomap. The bounds are listed in
``operator/README.md``.
"""

from __future__ import annotations

import enum
import re
from datetime import UTC, datetime
from typing import Any, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterError, croniter
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from dwt.stages.weights import BondWeights

COMMUNITY_PATTERN = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"

#: Upper bounds of the spec's numbers (documented in operator/README.md).
MAX_WEIGHT = 1_000_000.0
MAX_SEED = 2**32 - 1  # Infomap's seed is a 32-bit unsigned integer
MAX_DEADLINE_SECONDS = 30 * 24 * 3600  # 30 days: a weekly run that takes longer is stuck
MAX_TREND_MIN = 100_000
MAX_MIN_SAMPLES = 10_000


def _cron_pattern() -> str:
    """A 5-field cron line (or an @macro) whose fields hold only what cron allows there:
    numbers in range, ``*``, ranges, lists, ``/step``, month and day names, ``?``, and
    croniter's ``L``/``W``/``#``. The API server refuses anything else with this pattern;
    croniter then refuses what still cannot fire (``0 0 31 2 *``)."""
    minute = r"[0-5]?[0-9]"
    hour = r"(?:[01]?[0-9]|2[0-3])"
    dom = r"(?:0?[1-9]|[12][0-9]|3[01])"
    month = r"(?:0?[1-9]|1[0-2]|[A-Za-z]{3})"
    dow = r"(?:[0-7]|[A-Za-z]{3})"

    def field(value: str, *extra: str) -> str:
        item = rf"(?:\*|{value}(?:-{value})?)(?:/[1-9][0-9]?)?"
        item = "|".join([item, *extra])
        return rf"(?:{item})(?:,(?:{item}))*"

    fields = [
        field(minute),
        field(hour),
        field(dom, r"\?", "L", rf"{dom}W"),
        field(month),
        field(dow, r"\?", rf"{dow}#[1-5]"),
    ]
    spaces = r"[ \t]+"  # not \s: Go (the API server) and Python disagree on which are spaces
    macros = "@(?:yearly|annually|monthly|weekly|daily|midnight|hourly)"
    return rf"^(?:{macros}|{spaces.join(fields)})$"


CRON_PATTERN = _cron_pattern()


class Step(enum.StrEnum):
    """Pipeline steps, in the order they run."""

    COLLECT = "collect"
    DISCOVER = "discover"
    BONDS = "bonds"
    CLUSTER = "cluster"
    CONTENT = "content"


STEP_ORDER = list(Step)


class _Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


class MembersScope(_Model):
    """Which members a run collects: all, only those never collected, or a listed set."""

    scope: Literal["all", "new", "listed"] = "all"
    accounts: list[str] = Field(default_factory=list, description="usernames or ids, for listed")

    @model_validator(mode="after")
    def _listed_needs_accounts(self) -> Self:
        if self.scope == "listed" and not self.accounts:
            raise ValueError("members.scope 'listed' needs members.accounts")
        return self


_WEIGHTS = BondWeights()


def _weight(default: float, description: str | None = None) -> Any:
    """A bond weight's field: finite, in [0, MAX_WEIGHT]."""
    return Field(default, ge=0, le=MAX_WEIGHT, allow_inf_nan=False, description=description)


class Weights(_Model):
    """Bond weights (MISSION.md step 3); defaults from :class:`BondWeights` (the
    ``balanced`` preset of :data:`dwt.stages.weights.PRESETS`; ``seed`` is the prototype's).

    There is no ``preset`` field: the API server fills every absent field with the CRD's
    default, so a preset named beside partial weights could not tell which were set. A
    picker writes all the preset's fields instead."""

    tweet: float = _weight(_WEIGHTS.tweet)
    mention: float = _weight(_WEIGHTS.mention)
    retweet: float = _weight(_WEIGHTS.retweet)
    quote: float = _weight(_WEIGHTS.quote)
    reply: float = _weight(_WEIGHTS.reply)
    follow: float = _weight(_WEIGHTS.follow, "weight of a mutual follow")
    normalize: bool = Field(
        _WEIGHTS.normalize,
        description="scale follows and interactions per member before mixing them",
    )
    follow_share: float = Field(
        _WEIGHTS.follow_share,
        ge=0,
        le=1,
        allow_inf_nan=False,
        description="share of follows in a member's bonds when normalize is true",
    )
    one_way: float = _weight(
        _WEIGHTS.one_way,
        "weight of a one-way follow, through shared contacts only (normalize)",
    )
    embeddedness: float = _weight(
        _WEIGHTS.embeddedness, "how much shared follow contacts multiply a bond (normalize)"
    )

    def bond_weights(self) -> BondWeights:
        return BondWeights(**self.model_dump(by_alias=False))


class Prices(_Model):
    """USD per resource X bills (unset: the account's, else X's table, dwt.xapi.prices)."""

    posts: float | None = Field(None, ge=0, le=10, description="USD per post read")
    following_accounts: float | None = Field(
        None, ge=0, le=10, description="USD per account a following list returns"
    )
    user_lookups: float | None = Field(None, ge=0, le=10, description="USD per user looked up")

    def given(self) -> dict[str, float]:
        """The prices set here, by resource name (dwt.xapi.prices.Resource values)."""
        return {k: v for k, v in self.model_dump(by_alias=False).items() if v is not None}


class RateLimits(_Model):
    """Requests per 15 minutes per app key for the endpoints collection uses (unset: what
    the key's answers said, else X's table, dwt.xapi.endpoints) — e.g. a legacy plan's."""

    user_tweets: int | None = Field(None, ge=1, le=10**6, description="GET /2/users/:id/tweets")
    following: int | None = Field(None, ge=1, le=10**6, description="GET /2/users/:id/following")
    users_by: int | None = Field(None, ge=1, le=10**6, description="GET /2/users/by")
    users: int | None = Field(None, ge=1, le=10**6, description="GET /2/users")

    def given(self) -> dict[str, int]:
        """The limits set here, by endpoint name (dwt.xapi.endpoints names)."""
        return {k: v for k, v in self.model_dump(by_alias=False).items() if v is not None}


#: USD bounds of the spend caps (a run or a month above this is a typo).
MAX_SPEND = 1_000_000.0


class Collection(_Model):
    api_keys_secret: str | None = Field(
        None, description="Secret (cluster) holding one API key per entry; never the keys"
    )
    workers_per_key: int = Field(1, ge=1, le=16)
    max_workers: int = Field(32, ge=1, le=512)
    # Follow lists are billed per account they return (dwt.xapi.prices): they are read
    # when a member joins, then on a rolling budget per week (most changed per dollar
    # first), and at the latest at this age.
    following_refresh_share: float = Field(
        0.15,
        ge=0,
        le=1,
        description="share of the follow-list accounts re-read per week (by their price), "
        "the lists expected to have changed most first",
    )
    following_refresh_days: int = Field(
        60,
        ge=0,
        le=365,
        description="maximum age of a follow list: older ones are re-read whatever the "
        "share; 0 = every run",
    )
    following_min_change: float = Field(
        0.0,
        ge=0,
        le=1,
        description="re-read a list (within the share) only when this share of its accounts "
        "is expected to have changed since it was read (its change rate × its age)",
    )
    following_max_list_size: int | None = Field(
        5000,
        ge=1,
        le=10**7,
        description="members following more accounts are not read (a list costs its size "
        "× the price); none = read every list",
    )
    max_post_reads: int | None = Field(
        None,
        ge=0,
        le=10**9,
        description="stop collecting before this many post reads in one run (none = no cap)",
    )
    max_spend_per_run: float | None = Field(
        None,
        ge=0,
        le=MAX_SPEND,
        allow_inf_nan=False,
        description="USD, every charge: stop a run before it spends more (none = no cap)",
    )
    max_spend_per_month: float | None = Field(
        None,
        ge=0,
        le=MAX_SPEND,
        allow_inf_nan=False,
        description="USD, every charge of the community in a UTC month (none = no cap)",
    )
    prices: Prices = Field(default_factory=Prices)
    rate_limits: RateLimits = Field(default_factory=RateLimits)
    monthly_post_cap: int | None = Field(
        None,
        ge=0,
        le=10**10,
        description="post reads X allows per month (unset: the account's, else X's "
        "pay-per-use cap; a legacy Basic plan has 10,000, Pro 1,000,000; 0 = none)",
    )


class Clustering(_Model):
    algorithm: Literal["infomap"] = "infomap"
    trials: int = Field(10, ge=1, le=1000)
    seed: int = Field(42, ge=1, le=MAX_SEED)  # Infomap refuses 0
    directed: bool = True
    weight_transform: Literal["sqrt", "log1p", "none"] = "sqrt"
    prefer_modular: bool = Field(
        True, description="never answer one module for all when a modular partition exists"
    )
    min_modularity_excess: float | None = Field(
        0.04,  # dwt.stages.cluster.MIN_MODULARITY_EXCESS (python -m dwt.bench.tune)
        ge=0,
        lt=1,
        description="when Infomap finds one module, Leiden's partition is used if its "
        "modularity beats a random graph's by this much (none: off)",
    )


class Topics(_Model):
    """Trending topics (hashtags, terms, URLs) of standalone tweets (dwt.stages.topics)."""

    enabled: bool = Field(True, description="find trending topics in the content step")
    bucket_minutes: int = Field(60, ge=1, le=24 * 60)
    span_buckets: int = Field(
        3, ge=1, le=168, description="consecutive buckets tested together for a burst"
    )
    min_count: int = Field(
        5, ge=1, le=MAX_TREND_MIN, description="fewest tweets in a burst (and a term's week)"
    )
    min_members: int = Field(3, ge=1, le=MAX_TREND_MIN, description="fewest distinct authors")
    min_ratio: float = Field(3.0, ge=1, le=1000, description="fewest times its baseline")
    max_p: float = Field(
        1e-6, gt=0, le=1, description="largest Poisson tail probability of a burst"
    )
    terms: bool = Field(True, description="find salient terms in the text, not only tags/URLs")
    top: int = Field(10, ge=0, le=1000, description="non-trending topics kept per cluster/tier")
    history_days: int = Field(
        14, ge=0, le=365, description="earlier days of stored tweets in each topic's baseline"
    )


class Content(_Model):
    trend_sigma: float = Field(
        5.0, ge=0, le=10, description="how unusual a trending conversation's growth is (σ)"
    )
    trend_min: int = Field(
        5, ge=1, le=MAX_TREND_MIN, description="fewest tweets in a trending conversation's run"
    )
    bucket_minutes: int = Field(60, ge=1, le=24 * 60)
    eps: float = Field(0.5, gt=0, le=1)
    min_samples: int = Field(2, ge=1, le=MAX_MIN_SAMPLES)
    topics: Topics = Field(default_factory=Topics)


class Discover(_Model):
    top: int = Field(30, ge=1, le=1000)
    mute_days: int = Field(7, ge=1, le=365)


class Driver(_Model):
    """What the Ray job's driver (``dwt run``) reserves on the Ray node it lands on. Ray
    places it by these (the chart's head offers no CPUs, so drivers run on workers)."""

    cpus: float = Field(1.0, gt=0, le=64, description="CPUs reserved for the driver")
    memory_mib: int | None = Field(
        None,
        ge=128,
        le=1024 * 1024,
        description="MiB reserved for the driver (unset: sized from the community's members)",
    )


#: The most shards of authors a run's insight steps make (each step's tasks grow with them).
MAX_SHARDS = 256


class RunSpec(_Model):
    """The pipeline's view of a CommunityJob spec."""

    community: str = Field(pattern=COMMUNITY_PATTERN, max_length=63)
    steps: list[Step] = Field(default_factory=lambda: list(STEP_ORDER), min_length=1)
    members: MembersScope = Field(default_factory=MembersScope)
    window_days: int = Field(7, ge=1, le=30)
    weights: Weights = Field(default_factory=Weights)
    collection: Collection = Field(default_factory=Collection)
    clustering: Clustering = Field(default_factory=Clustering)
    content: Content = Field(default_factory=Content)
    discover: Discover = Field(default_factory=Discover)
    shards: int = Field(
        0,
        ge=0,
        le=MAX_SHARDS,
        description="with Ray: shards of authors the insight steps run over, each a task "
        "(0: chosen by the week's size; a small week runs in the driver)",
    )

    @field_validator("steps")
    @classmethod
    def _ordered_unique(cls, steps: list[Step]) -> list[Step]:
        if len(set(steps)) != len(steps):
            raise ValueError("steps must not repeat")
        return sorted(steps, key=STEP_ORDER.index)


class CommunityJobSpec(RunSpec):
    """A CommunityJob's whole ``spec``: what to run (:class:`RunSpec`) and how the operator
    runs it — once or on a ``schedule`` (cron, in ``timeZone``), how overlapping scheduled
    runs are handled, suspension, a deadline, retries and how many past runs to keep.
    The CRD's schema is generated from this model (``dwt_operator.crd``)."""

    schedule: str | None = Field(
        None,
        pattern=CRON_PATTERN,
        max_length=200,
        description="cron schedule (5 fields, or @daily etc.) in timeZone; unset runs once",
    )
    time_zone: str = Field("UTC", description="IANA time zone of the schedule", max_length=64)
    concurrency_policy: Literal["Forbid", "Replace"] = Field(
        "Forbid", description="a scheduled run while one is running: skip it, or replace it"
    )
    suspend: bool = Field(False, description="stop the running job and fire no schedule")
    active_deadline_seconds: int | None = Field(
        None,
        ge=1,
        le=MAX_DEADLINE_SECONDS,
        description="stop a run that takes longer than this (at most 30 days)",
    )
    backoff_limit: int = Field(3, ge=0, le=20, description="retries of a failed run")
    history_limit: int = Field(5, ge=1, le=100, description="past runs kept in status.history")
    driver: Driver = Field(default_factory=Driver)

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r} (an IANA name like Europe/Paris)"
            ) from None
        return value

    @field_validator("schedule", mode="before")
    @classmethod
    def _fires(cls, value: object) -> object:
        """Refuse, with a message a person can act on, a schedule croniter (which the
        operator fires it with) cannot use: a bad field, or a date that never comes
        (``0 0 31 2 *``). Such a schedule used to make every poll of the operator fail,
        forever. Runs before the pattern check, whose own message is the whole regex."""
        if not isinstance(value, str):
            return value
        if not re.fullmatch(CRON_PATTERN, value) or not croniter.is_valid(value):
            raise ValueError(
                f"invalid cron schedule {value!r}: five fields (minute 0-59, hour 0-23, "
                "day of month 1-31, month 1-12, day of week 0-7) or @hourly, @daily, "
                "@weekly, @monthly, @yearly"
            )
        try:
            croniter(value, datetime(2000, 1, 1, tzinfo=UTC)).get_next(datetime)
        except (CroniterError, ValueError, OverflowError):
            raise ValueError(f"cron schedule {value!r} never fires") from None
        return value

    def run_spec(self) -> RunSpec:
        """The part the pipeline runs (the operator's fields dropped)."""
        return RunSpec.model_validate(self.model_dump(include=set(RunSpec.model_fields)))
