"""Public metrics: engagement counts per tweet and follower/following/tweet counts per user.

The dataset only holds the community's corner of X, so most counts are what was generated
here plus an "outside world" share: a tweet's retweet_count is at least the retweets of it
in the table, a member's followers_count at least its followers in the follow table. Two are
exact, as X's are for what it serves: following_count is the length of the follow list the
emulator serves (X bills a list by its accounts, and a plan prices it by this count), and
tweet_count is the tweets here plus a history at the account's own pace (its rate in the
generated days, give or take), so a plan made from tweet_count / age is as good as on X.
"""

from __future__ import annotations

import numpy as np

from dwt.generate.community import DAY_MS, Community
from dwt.generate.tweets import QUOTE, REPLY, RETWEET, Skeleton

#: Mean engagement from outside the dataset, per unit of tweet virality.
OUTSIDE_ENGAGEMENT = 0.4
LIKES_PER_ENGAGEMENT = 4.0


def engagement(rng: np.random.Generator, skel: Skeleton) -> dict[str, np.ndarray]:
    """retweet/reply/like/quote/impression counts; retweets themselves count nothing."""
    n = skel.size
    original = skel.kind != RETWEET

    def counted(code: int) -> np.ndarray:
        return np.bincount(skel.target[skel.kind == code], minlength=n).astype(np.int64)

    lam = OUTSIDE_ENGAGEMENT * skel.virality
    retweets = counted(RETWEET) + rng.poisson(lam)
    replies = counted(REPLY) + rng.poisson(0.5 * lam)
    quotes = counted(QUOTE) + rng.poisson(0.1 * lam)
    likes = rng.poisson(LIKES_PER_ENGAGEMENT * (retweets + replies + quotes) + 6 * lam + 0.5)
    impressions = np.round((likes + 1) * rng.lognormal(4.0, 0.6, n)).astype(np.int64)
    out = {
        "retweet_count": retweets,
        "reply_count": replies,
        "like_count": likes.astype(np.int64),
        "quote_count": quotes,
        "impression_count": impressions,
    }
    for values in out.values():
        values[~original] = 0
    return out


def user_metrics(
    rng: np.random.Generator,
    world: Community,
    source: np.ndarray,
    target: np.ndarray,
    tweets: np.ndarray,
    now_ms: int,
    days: int,
) -> dict[str, np.ndarray]:
    """followers/following/tweet/listed counts (see the module doc)."""
    n, m = world.accounts, world.members
    followers = np.bincount(target, minlength=n).astype(np.int64)
    following = np.bincount(source, minlength=n).astype(np.int64)
    reach = np.empty(n)
    reach[:m] = np.exp(rng.normal(5.0, 1.2, m)) * np.sqrt(world.popularity[:m])
    if world.outsiders:
        global_share = world.outsider_probs.mean(axis=0)
        reach[m:] = np.exp(rng.normal(6.0, 1.5, world.outsiders)) * (1.0 + 2_000.0 * global_share)
    followers += np.round(reach).astype(np.int64)
    age_days = (now_ms - world.created_ms) / DAY_MS
    # Silent accounts still posted now and then before the generated days; the noise has
    # mean 1 (lognormal with mu = -sigma^2 / 2), so tweet_count / age is unbiased.
    pace = np.maximum(tweets / max(1, days), 0.05 * np.exp(rng.normal(0.0, 1.0, n)))
    history = np.round(age_days * pace * np.exp(rng.normal(-0.125, 0.5, n))).astype(np.int64)
    return {
        "followers_count": followers,
        "following_count": following,
        "tweet_count": tweets.astype(np.int64) + history,
        "listed_count": rng.poisson(followers / 150.0).astype(np.int64),
    }
