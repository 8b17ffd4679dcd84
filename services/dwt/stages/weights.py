"""Bond weights: the one source of the defaults (the CRD schema and the dashboard's sliders
are checked against these by tests)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class BondWeights:
    """How much each interaction adds to the bond u→v (MISSION.md, step 3).

    ``tweet`` is the base weight every member following the author gains for each of the
    author's tweets; the others are what a member the tweet is directed at gains, by the
    tweet's kind (a plain tweet directs itself at the members it mentions).
    """

    tweet: float = 0.01
    mention: float = 0.1
    retweet: float = 1.0
    quote: float = 10.0
    reply: float = 100.0

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise ValueError(
                    f"bond weight {name!r} must be a finite number >= 0, got {value!r}"
                )

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> BondWeights:
        """Build from a (possibly partial) mapping such as a CommunityJob's ``spec.weights``."""
        values = dict(values or {})
        unknown = set(values) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown bond weight(s): {', '.join(sorted(unknown))}")
        return cls(**{k: float(v) for k, v in values.items()})

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    def for_kind(self) -> dict[str, float]:
        """The weight a directed-at member gains, by tweet kind (a plain tweet: a mention)."""
        return {
            "tweet": self.mention,
            "retweet": self.retweet,
            "quote": self.quote,
            "reply": self.reply,
        }
