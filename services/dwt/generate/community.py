"""The planted structure: who belongs to which sub-community, who is popular, who is hot.

Accounts are numbered 0..members-1 (members, communities shuffled over them) then
members..members+outsiders-1 (outsiders). Everything later (follows, tweets) is drawn
from the arrays built here, so the ground truth lives in one place.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dwt.generate.sampling import cumulative, group_starts, snowflake_ids
from dwt.xapi.dataset import ACCOUNT_STATES

DAY_MS = 86_400_000
#: Accounts are created between this instant (2011-01-01, after X's snowflake epoch) and
#: a month before the window, so every user id is a valid snowflake.
ACCOUNTS_SINCE_MS = 1_293_840_000_000
#: How much more a non-hot outsider is chosen by members of the community it leans to.
AFFINITY_BOOST = 4.0
#: Zipf exponent of outsider popularity: the top few outsiders draw most interactions.
OUTSIDER_ZIPF = 1.1
#: Share of all tweets written by outsiders (their tweets are there to be quoted/retweeted).
OUTSIDER_TWEET_SHARE = 0.12
#: Spread of member activity (lognormal sigma): a few members write most tweets.
ACTIVITY_SIGMA = 1.1

ACTIVE = ACCOUNT_STATES.index("active")
PROTECTED = ACCOUNT_STATES.index("protected")
SUSPENDED = ACCOUNT_STATES.index("suspended")
DELETED = ACCOUNT_STATES.index("deleted")


@dataclass
class Community:
    """The planted world (see the module doc for how accounts are numbered)."""

    members: int
    outsiders: int
    communities: int
    sizes: np.ndarray  # members per sub-community, largest first
    community: np.ndarray  # per account, -1 for outsiders
    popularity: np.ndarray  # per account: how often chosen as a partner
    activity: np.ndarray  # per account: expected tweets in the window
    affinity: np.ndarray  # per outsider: the community it leans to, -1 for hot (global)
    outsider_probs: np.ndarray  # (communities, outsiders): whom a member of k reaches out to
    state: np.ndarray  # per account, index into ACCOUNT_STATES
    created_ms: np.ndarray  # per account
    ids: np.ndarray  # per account, int64 snowflake
    timezone_h: np.ndarray  # per community (last entry: outsiders), peak-hour shift
    by_community: np.ndarray  # member account indices sorted by community
    community_starts: np.ndarray  # (communities + 1) offsets into by_community

    @property
    def accounts(self) -> int:
        return self.members + self.outsiders

    def outsider_cum(self) -> np.ndarray:
        """Flattened cumulative outsider probabilities; group k = row k (for choose_in_groups)."""
        return cumulative(self.outsider_probs.ravel())

    def outsider_starts(self) -> np.ndarray:
        return np.arange(self.communities + 1, dtype=np.int64) * self.outsiders

    def member_cum(self, weights: np.ndarray) -> np.ndarray:
        """Cumulative per-member weights in ``by_community`` order."""
        return cumulative(weights[self.by_community])


def community_sizes(rng: np.random.Generator, members: int, communities: int) -> np.ndarray:
    """Skewed sizes (Zipf-ish with gamma noise), each at least a few members, largest first."""
    floor = max(1, min(5, members // (2 * communities)))
    weights = rng.gamma(3.0, size=communities) / (np.arange(communities) + 1.0) ** 0.8
    sizes = floor + rng.multinomial(members - floor * communities, weights / weights.sum())
    return np.sort(sizes)[::-1].astype(np.int64)


def hot_count(outsiders: int) -> int:
    """How many outsiders are 'hot' (global, very popular): up to the discover step's 30."""
    return min(outsiders, max(3, min(30, outsiders // 10)))


def build_community(
    rng: np.random.Generator,
    members: int,
    communities: int,
    outsiders: int,
    tweets_per_member: float,
    now_ms: int,
    window_ms: int,
) -> Community:
    """Draw the planted structure (sizes, popularity, activity, states, account ids)."""
    sizes = community_sizes(rng, members, communities)
    n = members + outsiders
    community = np.full(n, -1, dtype=np.int32)
    community[:members] = rng.permutation(np.repeat(np.arange(communities), sizes))
    by_community = np.argsort(community[:members], kind="stable")
    starts = group_starts(community[:members], communities)

    # Members: heavy-tailed activity, popularity correlated with it.
    z = rng.standard_normal(members)
    activity = np.empty(n)
    activity[:members] = tweets_per_member * np.exp(ACTIVITY_SIGMA * z - ACTIVITY_SIGMA**2 / 2)
    popularity = np.empty(n)
    popularity[:members] = np.exp(0.5 * z + 0.8 * rng.standard_normal(members))

    # Outsiders: Zipf popularity over a random ranking; the top ones are global ("hot").
    rank = rng.permutation(outsiders)
    out_pop = 1.0 / (rank + 1.0) ** OUTSIDER_ZIPF
    affinity = np.where(
        rank < hot_count(outsiders),
        -1,
        rng.choice(communities, size=outsiders, p=sizes / sizes.sum()),
    ).astype(np.int32)
    popularity[members:] = out_pop * 50.0
    probs = np.tile(out_pop, (communities, 1))
    if outsiders:
        probs[affinity[None, :] == np.arange(communities)[:, None]] *= AFFINITY_BOOST
        probs /= probs.sum(axis=1, keepdims=True)
        volume = np.sqrt(out_pop) * rng.lognormal(0.0, 0.7, size=outsiders)
        activity[members:] = (
            OUTSIDER_TWEET_SHARE * members * tweets_per_member * volume / volume.sum()
        )

    state = np.full(n, ACTIVE, dtype=np.int8)
    if members >= 20:
        special = rng.choice(
            members, size=max(1, members // 100) + 2 + (members >= 1000), replace=False
        )
        n_protected = max(1, members // 100)
        state[special[:n_protected]] = PROTECTED
        state[special[n_protected:-1]] = SUSPENDED
        state[special[-1]] = DELETED

    newest = now_ms - window_ms - 30 * DAY_MS
    created_ms = ACCOUNTS_SINCE_MS + (rng.random(n) ** 0.7 * (newest - ACCOUNTS_SINCE_MS)).astype(
        np.int64
    )
    return Community(
        members=members,
        outsiders=outsiders,
        communities=communities,
        sizes=sizes,
        community=community,
        popularity=popularity,
        activity=activity,
        affinity=affinity,
        outsider_probs=probs,
        state=state,
        created_ms=created_ms,
        ids=snowflake_ids(created_ms),
        timezone_h=rng.normal(0.0, 3.0, size=communities + 1),
        by_community=by_community,
        community_starts=starts,
    )
