"""Bond weights: the one source of the defaults (the CRD schema and the dashboard's sliders
are checked against these by tests), and the named presets the dashboard offers.

Two ways to build bonds (issue 15):

* **raw** (``normalize=False``, the 2020 prototype's rule, preset ``"seed"``): every
  follower gains ``tweet`` per tweet of the account it follows, a directed-at member the
  weight of the tweet's kind. The kinds span four orders of magnitude (0.01 … 100) and the
  follow part is the smallest, so the follow structure has almost no say: on a community
  the product was not tuned on NMI fell to 0.4–0.5 at mixing 0.35–0.5.
* **normalised** (``normalize=True``, preset ``"balanced"``, the default): two signals per
  member — its *follows* (``follow`` per mutual follow, plus the ``tweet`` base weight) and
  its *interactions* this week (kind weights, given and received) — are each scaled to sum
  to 1 over the member's bonds, then mixed with ``follow_share``. Neither drowns the other
  whatever the member's activity; a member without one signal keeps the other whole.
  Both signals are weighted by *embeddedness* (shared contacts, below).

Embeddedness (``embeddedness``, ``one_way``; the normalised rule only). A follow or an
interaction between two members who share many contacts is more likely a tie inside a
group than one between members who share none: random follows, follows of a celebrity
and one-off replies to strangers land between people with little else in common. Each
bond is multiplied by ``1 + embeddedness · J(u, v)``, ``J`` the Jaccard overlap of the
two members' follow neighbourhoods (followed or following, members only). A mutual
follow counts by itself; a *one-way* follow counts only through its embeddedness
(``one_way · embeddedness · J``): at a flat weight the many unreciprocated random and
celebrity follows made Infomap merge everything into one module at high mixing, and
dropped altogether they lost the real ties that are not followed back (~40% on the
independent source). A celebrity followed by everyone has a huge neighbourhood, so its
overlap with any one follower (and the cluster-merging weight it adds) stays small.
Tuned on the independent source's seeds 10–12 (see :mod:`dwt.bench.independent`): NMI at
mixing 0.5 from 0.67 to 0.88, on ``dwt generate`` data from 0.95 to 0.98–1.0.

Kind weights: all 1 by default, not MISSION.md's 0.1 / 1 / 10 / 100 (mention, retweet,
quote, reply). Kept *inside* the normalised interaction signal, the ratios still let a
member's one reply outweigh a thousand mentions of other members, so a bond's weight says
more about which kind the week happened to hold than about who the member talks to. Mean
NMI on the tuning seeds 10–16 (bonds + cluster stages; mixing 0.35 / 0.5 on the
independent source, ``dwt generate`` at 300 members):

============================================  ======  ======  ========
interaction signal                            0.35    0.5     generate
============================================  ======  ======  ========
kinds all 1 (default)                         0.974   0.877   0.983
MISSION ratios                                0.965   0.849   0.983
MISSION ratios, square root of each pair sum  0.970   0.873   0.983
MISSION ratios to the power 0.5               0.970   0.859   0.983
MISSION ratios to the power 0.25              0.972   0.871   0.983
MISSION order on a log scale (1, 2, 3, 4)     0.973   0.878   0.983
============================================  ======  ======  ========

No sub-linear form of the ratios did better than equal kinds (the best are within the
seeds' spread, 0.81–0.95 per week at 0.5), and the plain ratios cost 0.03 at mixing 0.5,
so the default stays flat. (Neither source makes one kind likelier inside a community
than across; data that did could change this.) The ``seed`` preset keeps the prototype's
ratios, and anyone may set them: with ``normalize`` the follows still keep their share.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass(frozen=True, slots=True)
class BondWeights:
    """How much each signal adds to the bond u→v (MISSION.md step 3; see the module doc).

    ``tweet`` is the base weight every member following the author gains for each of the
    author's tweets; ``mention``, ``retweet``, ``quote`` and ``reply`` what a member the
    tweet is directed at gains, by the tweet's kind (a plain tweet directs itself at the
    members it mentions); ``follow`` what a *mutual* follow adds; ``normalize`` scales the
    follow and interaction signals per member before mixing them, ``follow_share`` (0–1) of
    the follows; ``one_way`` what an unreciprocated follow adds relative to a mutual one,
    through shared contacts only, and ``embeddedness`` how much shared contacts multiply
    a bond (both: the normalised rule only; see the module doc).
    """

    tweet: float = 0.0
    mention: float = 1.0
    retweet: float = 1.0
    quote: float = 1.0
    reply: float = 1.0
    follow: float = 1.0
    normalize: bool = True
    follow_share: float = 0.5
    one_way: float = 0.5
    embeddedness: float = 4.0

    def __post_init__(self) -> None:
        if not isinstance(self.normalize, bool):
            raise ValueError(f"normalize must be true or false, got {self.normalize!r}")
        for name, value in asdict(self).items():
            if name == "normalize":
                continue
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or value < 0
            ):
                raise ValueError(
                    f"bond weight {name!r} must be a finite number >= 0, got {value!r}"
                )
        if self.follow_share > 1:
            raise ValueError(f"follow_share must be within [0, 1], got {self.follow_share}")

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> BondWeights:
        """Build from a (possibly partial) mapping such as a CommunityJob's ``spec.weights``
        (``followShare`` or ``follow_share``); absent fields keep the defaults."""
        values = {_snake(k): v for k, v in dict(values or {}).items()}
        unknown = set(values) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown bond weight(s): {', '.join(sorted(unknown))}")
        return cls(**{k: v if k == "normalize" else float(v) for k, v in values.items()})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def for_kind(self) -> dict[str, float]:
        """The weight a directed-at member gains, by tweet kind (a plain tweet: a mention)."""
        return {
            "tweet": self.mention,
            "retweet": self.retweet,
            "quote": self.quote,
            "reply": self.reply,
        }


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


#: Named weight sets (the dashboard's picker): ``balanced`` is the default;
#: ``seed`` the 2020 prototype's raw weights (0.01 / 0.1 / 1 / 10 / 100, follows unused).
PRESETS: dict[str, BondWeights] = {
    "balanced": BondWeights(),
    "seed": BondWeights(
        tweet=0.01,
        mention=0.1,
        retweet=1.0,
        quote=10.0,
        reply=100.0,
        follow=0.0,
        normalize=False,
        follow_share=0.5,
        one_way=0.0,
        embeddedness=0.0,
    ),
}
