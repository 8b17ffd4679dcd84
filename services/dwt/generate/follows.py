"""The follow graph: mostly inside each sub-community, some across, hot outsiders on top.

Follows matter twice downstream: every member following an author gains the base bond
weight on each of the author's tweets, and the clustering must still recover the planted
communities, so most edges stay inside them.
"""

from __future__ import annotations

import numpy as np

from dwt.generate.community import Community
from dwt.generate.sampling import choose_in_groups, choose_in_ranges, cumulative, other_group

#: Mean share of a member's community it follows (capped by MAX_INTRA_FOLLOWS).
INTRA_SHARE = 0.35
MAX_INTRA_FOLLOWS = 60
#: Chance of each extra follow going to another sub-community, per intra follow.
CROSS_RATE = 0.12
#: Mean follows of outsiders per member, and follows per outsider.
MEMBER_OUTSIDER_FOLLOWS = 3.0
OUTSIDER_FOLLOWS = 6.0


def build_follows(rng: np.random.Generator, world: Community) -> tuple[np.ndarray, np.ndarray]:
    """(source, target) account indices, deduplicated, no self-follows, sorted by source."""
    m, k = world.members, world.communities
    own = world.community[:m].astype(np.int64)
    size = world.sizes[own]
    mean = np.minimum(MAX_INTRA_FOLLOWS, INTRA_SHARE * (size - 1))
    intra = np.minimum(size - 1, np.round(mean * rng.lognormal(-0.18, 0.6, size=m)))
    intra = intra.astype(np.int64)
    cross = rng.binomial(intra + 2, CROSS_RATE) if k > 1 else np.zeros(m, dtype=np.int64)
    member_cum = world.member_cum(world.popularity)

    sources = [np.repeat(np.arange(m), intra)]
    targets = [
        world.by_community[
            choose_in_groups(rng, member_cum, world.community_starts, np.repeat(own, intra))
        ]
    ]
    cross_src = np.repeat(np.arange(m), cross)
    cross_k = other_group(rng, own[cross_src], world.sizes.astype(float))
    sources.append(cross_src)
    targets.append(
        world.by_community[choose_in_groups(rng, member_cum, world.community_starts, cross_k)]
    )

    if world.outsiders:
        n_out = rng.poisson(MEMBER_OUTSIDER_FOLLOWS, size=m)
        src = np.repeat(np.arange(m), n_out)
        pick = choose_in_groups(rng, world.outsider_cum(), world.outsider_starts(), own[src])
        sources.append(src)
        targets.append(m + pick % world.outsiders)

        n_follow = rng.poisson(OUTSIDER_FOLLOWS, size=world.outsiders)
        src = m + np.repeat(np.arange(world.outsiders), n_follow)
        to_member = rng.random(src.shape[0]) < 0.5
        everyone = cumulative(world.popularity)
        lo = np.where(to_member, 0, m)
        hi = np.where(to_member, m, world.accounts)
        sources.append(src)
        targets.append(choose_in_ranges(rng, everyone, lo, hi))

    source = np.concatenate(sources).astype(np.int64)
    target = np.concatenate(targets).astype(np.int64)
    keep = (source != target) & (target >= 0)
    keys = np.unique(source[keep] * world.accounts + target[keep])
    return keys // world.accounts, keys % world.accounts
