"""One week's tweets, bursts and noise bursts of a family-2 community (see :mod:`.world`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from dwt.bench.family2.world import (
    HOUR_MS,
    KIND_SHARES,
    MENTION,
    OUTSIDER_ROOTS,
    QUOTE,
    REPLY,
    RESPONSE_SHARE,
    RETWEET,
    TWEET,
    WEEK1_END,
    WEEK_MS,
    Accounts,
    Family2Config,
    Rows,
    pick_in,
)

BOT_MENTIONS = 8  # members mentioned per bot tweet
TOPIC_FORMS = ("hashtag", "term", "url")


def window(week: int) -> tuple[int, int]:
    """The week's [start, end) in epoch ms (week 0 ends at :data:`WEEK1_END`)."""
    end = int(WEEK1_END.timestamp() * 1000) + week * WEEK_MS
    return end - WEEK_MS, end


def shares_community(
    i: np.ndarray, j: np.ndarray, label: np.ndarray, second: np.ndarray
) -> np.ndarray:
    """True where members ``i`` and ``j`` have a community in common (bridges have two)."""
    li, lj, si, sj = label[i], label[j], second[i], second[j]
    return (li >= 0) & ((li == lj) | (li == sj) | ((si >= 0) & ((si == lj) | (si == sj))))


def _other(rng: np.random.Generator, home: np.ndarray, comms: np.ndarray) -> np.ndarray:
    """A community of ``comms`` (sorted) other than ``home``, uniformly."""
    idx = rng.integers(0, len(comms) - 1, len(home))
    idx += idx >= np.searchsorted(comms, home)
    return comms[idx]


def _diurnal(rng: np.random.Generator, tz: np.ndarray, start: int, end: int) -> np.ndarray:
    """Times over the week, most in the evening of each author's time zone."""
    m = len(tz)
    day = rng.integers(0, 7, m)
    evening = rng.random(m) < 0.75
    hour = np.where(evening, rng.normal(19.0, 3.0, m), rng.uniform(0, 24, m)) - tz
    ms = start + day * 24 * HOUR_MS + (np.mod(hour, 24) * HOUR_MS).astype(np.int64)
    return np.clip(ms, start, end - 60_000)


def _after(rng: np.random.Generator, ref_ms: np.ndarray, end: int, mean_h: float) -> np.ndarray:
    """A time after each ``ref_ms``: an exponential lag, redrawn within the week when late."""
    ms = ref_ms + 60_000 + rng.exponential(mean_h * HOUR_MS, len(ref_ms)).astype(np.int64)
    late = ms >= end
    ms[late] = ref_ms[late] + ((end - ref_ms[late]) * rng.random(late.sum())).astype(np.int64)
    return np.maximum(ms, ref_ms + 1)


def _contacts(
    relations: np.ndarray, same: np.ndarray, n: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per side (inside, across): each member's contacts, repeated by contact count, as
    (start offsets, flat partners)."""
    a, b, w = relations[:, 0], relations[:, 1], relations[:, 2]
    out = []
    for side in (same, ~same):
        src = np.repeat(np.r_[a[side], b[side]], np.r_[w[side], w[side]])
        dst = np.repeat(np.r_[b[side], a[side]], np.r_[w[side], w[side]])
        order = np.argsort(src, kind="stable")
        starts = np.r_[0, np.cumsum(np.bincount(src, minlength=n))]
        out.append((starts, dst[order]))
    return out


def _fresh(rng: np.random.Generator, count: int) -> list[str]:
    """Burst words no background tweet uses (digits end them; the vocabulary has none)."""
    letters = np.array(list("bcdfghjklmnprstvwz")), np.array(list("aeiouy"))
    words = []
    for _ in range(count):
        syl = [rng.choice(letters[0]) + rng.choice(letters[1]) for _ in range(4)]
        words.append("".join(syl) + str(rng.integers(10, 99)))
    return words


def _phrase(word: str, form: str) -> str:
    return {"hashtag": f"#{word}", "term": word, "url": f"https://press.example.org/{word}"}[form]


def draw_week(
    rng: np.random.Generator,
    acc: Accounts,
    cfg: Family2Config,
    week: int,
    relations: np.ndarray,
) -> tuple[Rows, list[dict[str, Any]], list[dict[str, Any]]]:
    """The week's tweets, its true bursts and its noise bursts (rows, not ids yet)."""
    n = acc.n_members
    label, second = acc.label[week], acc.second[week]
    present = acc.week1 if week == 0 else np.ones(n, bool)
    comms = np.unique(label[label >= 0])
    start, end = window(week)
    pickable = np.where(present & ~acc.bot, label, -1)
    weight = acc.popularity[:n]

    counts = rng.poisson(acc.rate * present)
    author = np.repeat(np.arange(n), counts)
    kind = rng.choice(5, len(author), p=KIND_SHARES).astype(np.int8)
    act = kind != TWEET
    src = author[act]
    ikind = kind[act]

    # Sides: solved so that the interactions' cross share is cfg.mixing (module doc).
    m = len(src)
    outsider = rng.random(m) < cfg.outsider_share
    argue = acc.arguer[src] & (ikind == REPLY) & ~outsider
    free = ~argue & ~outsider
    fixed = cfg.argue_cross * argue.sum()
    responses = RESPONSE_SHARE * fixed
    threads = cfg.thread_bursts * cfg.thread_replies
    total = free.sum() + argue.sum() + responses + threads
    p = float(np.clip((cfg.mixing * total - fixed - responses) / max(free.sum(), 1), 0, 1))
    cross = np.where(argue, rng.random(m) < cfg.argue_cross, rng.random(m) < p)
    same = shares_community(relations[:, 0], relations[:, 1], label, second)
    sides = _contacts(relations, same, n)
    target = np.full(m, -1, np.int64)
    for s, (starts, flat) in enumerate(sides):
        on = (cross == bool(s)) & ~outsider
        deg = (starts[src + 1] - starts[src])[on]
        has = deg > 0
        picks = np.full(on.sum(), -1, np.int64)
        idx = starts[src[on]][has] + (rng.random(has.sum()) * deg[has]).astype(np.int64)
        picks[has] = flat[idx]
        target[on] = picks
    home = np.where((second[src] >= 0) & (rng.random(m) < 0.5), second[src], label[src])
    drive = ~outsider & ((target < 0) | (rng.random(m) < cfg.drive_by) | (argue & cross))
    side = np.where(cross, _other(rng, home, comms), home)
    target[drive] = pick_in(rng, side[drive], pickable, weight)
    outsiders = np.arange(n, acc.total)
    o_w = acc.popularity[n:] / acc.popularity[n:].sum()
    target[outsider] = rng.choice(outsiders, outsider.sum(), p=o_w)
    target[target < 0] = rng.choice(outsiders, (target < 0).sum(), p=o_w)

    # Roots: plain and mention tweets of members, outsiders' tweets; an answer (reply,
    # retweet, quote) aimed at an account without a root becomes a mention.
    roots_of = np.bincount(np.r_[author[kind == TWEET], src[ikind == MENTION]], minlength=acc.total)
    roots_of[n:] = OUTSIDER_ROOTS
    answer = ikind != MENTION
    ikind = np.where(answer & (roots_of[target] == 0), MENTION, ikind)
    answer = ikind != MENTION
    rows = Rows()
    plain = author[kind == TWEET]
    rows.add(plain, _diurnal(rng, acc.tz[plain], start, end), TWEET)
    m_src, m_dst = src[~answer], target[~answer]
    rows.add(
        m_src, _diurnal(rng, acc.tz[m_src], start, end), MENTION, mentions=[[int(j)] for j in m_dst]
    )
    o_auth = np.repeat(outsiders, OUTSIDER_ROOTS)
    rows.add(o_auth, rng.integers(start, end - 60_000, len(o_auth)), TWEET)
    root_author = rows.column("author")
    root_ms = rows.column("ms")
    by_author = np.argsort(root_author, kind="stable")
    first = np.r_[0, np.cumsum(np.bincount(root_author, minlength=acc.total))]
    a_src, a_dst, a_kind = src[answer], target[answer], ikind[answer]
    have = first[a_dst + 1] - first[a_dst]
    ref = by_author[first[a_dst] + (rng.random(len(a_dst)) * have).astype(np.int64)]
    rt = a_kind == RETWEET
    answered = rows.add(
        a_src,
        _after(rng, root_ms[ref], end, 8.0),
        a_kind,
        ref=ref,
        mentions=[[int(j)] if r else [] for j, r in zip(a_dst, rt, strict=True)],
    )
    # Arguments answered: the target replies to the arguer's cross reply.
    a_argue = (argue & cross)[answer]
    back = a_argue & (rng.random(len(a_src)) < RESPONSE_SHARE) & (a_dst < n)
    back_ms = rows.column("ms")[answered[back]]
    rows.add(a_dst[back], _after(rng, back_ms, end, 2.0), REPLY, ref=answered[back])

    _bots(rng, acc, cfg, rows, present, start, end)
    speaking = (
        present & ~acc.bot & (np.bincount(rows.column("author"), minlength=acc.total)[:n] > 0)
    )
    bursts, noise = _bursts(rng, acc, cfg, rows, label, second, speaking, comms, start)
    return rows, bursts, noise


def _bots(
    rng: np.random.Generator,
    acc: Accounts,
    cfg: Family2Config,
    rows: Rows,
    present: np.ndarray,
    start: int,
    end: int,
) -> None:
    """Each bot mentions ``bot_reach`` of the members, ``BOT_MENTIONS`` a tweet, all week."""
    people = np.flatnonzero(present & ~acc.bot)
    for bot in np.flatnonzero(acc.bot & present):
        reached = rng.permutation(people)[: int(np.ceil(cfg.bot_reach * len(people)))]
        chunks = [c.tolist() for c in np.array_split(reached, max(1, len(reached) // BOT_MENTIONS))]
        rows.add(
            np.full(len(chunks), bot),
            rng.integers(start, end - 60_000, len(chunks)),
            MENTION,
            mentions=chunks,
        )


def _bursts(
    rng: np.random.Generator,
    acc: Accounts,
    cfg: Family2Config,
    rows: Rows,
    label: np.ndarray,
    second: np.ndarray,
    speaking: np.ndarray,
    comms: np.ndarray,
    start: int,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """True bursts (topics, reply storms) and noise bursts, in separate slots of the week."""
    count = cfg.topic_bursts + cfg.thread_bursts + 3
    slots = rng.choice(np.arange(12, 160, 6), count, replace=False)
    t0s = [start + int(h) * HOUR_MS for h in slots]
    words = _fresh(rng, count)
    in_comm = [np.flatnonzero(speaking & ((label == c) | (second == c))) for c in comms]
    eligible = [i for i, pool in enumerate(in_comm) if len(pool) >= 12]
    bursts: list[dict[str, Any]] = []
    for b in range(cfg.topic_bursts + cfg.thread_bursts):
        c = int(rng.choice(eligible))
        pool = in_comm[c]
        if b < cfg.topic_bursts:
            phrase = _phrase(words[b], TOPIC_FORMS[b % 3])
            who = rng.choice(pool, max(8, len(pool) // 2), replace=False)
            who = np.r_[who, rng.choice(who, int(0.3 * len(who)))]
            ms = np.sort(rng.integers(t0s[b], t0s[b] + 3 * HOUR_MS, len(who)))
            got = rows.add(who, ms, TWEET, phrase=phrase)
            kind = "topic"
        else:
            phrase = ""
            root = rows.add(rng.choice(pool, 1), np.array([t0s[b]]), TWEET)
            r = cfg.thread_replies
            parent = np.where(rng.random(r) < 0.4, 0, rng.integers(0, np.arange(1, r + 1)))
            ms = np.sort(rng.integers(t0s[b] + 60_000, t0s[b] + int(2.5 * HOUR_MS), r))
            # Replies follow the root at once: local index q is row root + q.
            replies = rows.add(rng.choice(pool, r), ms, REPLY, ref=root[0] + parent)
            got = np.r_[root, replies]
            kind = "thread"
        bursts.append({"kind": kind, "community": int(comms[c]), "phrase": phrase, "rows": got})
    noise = _noise(rng, acc, rows, label, speaking, comms, t0s[-3:], words[-3:])
    return bursts, noise


def _noise(
    rng: np.random.Generator,
    acc: Accounts,
    rows: Rows,
    label: np.ndarray,
    speaking: np.ndarray,
    comms: np.ndarray,
    t0s: list[int],
    words: list[str],
) -> list[dict[str, Any]]:
    """Three bursts that should not trend: a phrase from at most two members per community;
    one member spamming a phrase; a bot spamming one, answered across communities."""
    noise = []
    per = [rng.permutation(np.flatnonzero(speaking & (label == c)))[:2] for c in comms]
    who = np.concatenate(per)
    phrase = _phrase(words[0], "hashtag")
    got = rows.add(
        who, np.sort(rng.integers(t0s[0], t0s[0] + 2 * HOUR_MS, len(who))), TWEET, phrase=phrase
    )
    noise.append({"kind": "scattered", "phrase": phrase, "rows": got})

    spammer = rng.choice(np.flatnonzero(speaking))
    phrase = _phrase(words[1], "term")
    ms = np.sort(rng.integers(t0s[1], t0s[1] + HOUR_MS, 25))
    got = rows.add(np.full(25, spammer), ms, TWEET, phrase=phrase)
    noise.append({"kind": "spam", "phrase": phrase, "rows": got})

    bot = rng.choice(np.flatnonzero(acc.bot))
    people = np.flatnonzero(speaking)
    phrase = _phrase(words[2], "url")
    ms = np.sort(rng.integers(t0s[2], t0s[2] + 2 * HOUR_MS, 30))
    mentions = [rng.choice(people, 2, replace=False).tolist() for _ in range(30)]
    posts = rows.add(np.full(30, bot), ms, MENTION, mentions=mentions, phrase=phrase)
    answer = np.concatenate(
        [rng.permutation(np.flatnonzero(speaking & (label == c)))[:1] for c in comms]
    )
    ref = rng.choice(posts, len(answer))
    replies = rows.add(
        answer, _after(rng, rows.column("ms")[ref], t0s[2] + 3 * HOUR_MS, 0.5), REPLY, ref=ref
    )
    noise.append({"kind": "bot", "phrase": phrase, "rows": np.r_[posts, replies]})
    return noise


def interaction_pairs(rows: Rows) -> tuple[np.ndarray, np.ndarray]:
    """(author, target) of every directed interaction: mentions, and the author of the tweet
    a reply, retweet or quote references (the product's ``directed_at``)."""
    author, kind, ref = rows.column("author"), rows.column("kind"), rows.column("ref")
    mentions = rows.flat("mentions")
    lens = np.array([len(m) for m in mentions], np.int64)
    m_src = np.repeat(author, lens)
    m_dst = np.array([j for m in mentions for j in m], np.int64)
    answers = np.isin(kind, (REPLY, QUOTE, RETWEET)) & (ref >= 0)
    r_src, r_dst = author[answers], author[ref[answers]]
    keep_m = kind[np.repeat(np.arange(len(kind)), lens)] != RETWEET  # RT's mention = its ref
    src, dst = np.r_[m_src[keep_m], r_src], np.r_[m_dst[keep_m], r_dst]
    return src[src != dst], dst[src != dst]
