"""``dwt generate``: write a synthetic community's week as a dataset directory.

The dataset is what the local X API v2 emulator serves; its ``meta.json`` holds the planted
truth (sub-communities, topics, bursts, hot outsiders) the pipeline's results are checked
against.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from dwt.config import Settings
from dwt.generate import GenerateError, generate_community
from dwt.xapi.dataset import Dataset

DEFAULT_OUT = Path("out/generated")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "generate",
        help="generate a synthetic community's week (a dataset for the X API emulator)",
        description="Generate a community with planted sub-communities, hot outsiders, "
        "topics and trending bursts; deterministic for given arguments.",
    )
    parser.add_argument("--members", type=int, default=300, help="community members (300)")
    parser.add_argument("--communities", type=int, default=6, help="planted sub-communities (6)")
    parser.add_argument("--days", type=int, default=7, help="length of the window in days (7)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (0)")
    parser.add_argument(
        "--outsiders",
        type=int,
        default=None,
        help="accounts outside the community (default: members // 2, >= 10)",
    )
    parser.add_argument(
        "--tweets-per-member",
        type=float,
        default=20.0,
        help="mean tweets per member in the window (20)",
    )
    parser.add_argument(
        "--bursts",
        type=int,
        default=None,
        help="trending bursts to plant (default: about three a week)",
    )
    parser.add_argument(
        "--topic-bursts",
        type=int,
        default=None,
        metavar="N",
        help="topic bursts to plant: standalone tweets of many members sharing a new "
        "hashtag, term or URL (default: about three a week, at most one per community; "
        "0: none)",
    )
    parser.add_argument(
        "--now",
        type=_instant,
        default=None,
        metavar="ISO",
        help="end of the window, ISO 8601, UTC if no offset (default: today 00:00 UTC)",
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"dataset directory to write ({DEFAULT_OUT})"
    )
    parser.set_defaults(handler=run)


def _instant(value: str) -> datetime:
    try:
        instant = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 date/time: {value!r}") from exc
    return instant.replace(tzinfo=UTC) if instant.tzinfo is None else instant.astimezone(UTC)


def run(args: argparse.Namespace, settings: Settings) -> int:
    now = args.now or datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    started = time.perf_counter()
    try:
        dataset = generate_community(
            members=args.members,
            communities=args.communities,
            days=args.days,
            seed=args.seed,
            now=now,
            outsiders=args.outsiders,
            tweets_per_member=args.tweets_per_member,
            bursts=args.bursts,
            topic_bursts=args.topic_bursts,
        )
    except GenerateError as exc:
        print(f"dwt generate: {exc}", file=sys.stderr)
        return 2
    generated = time.perf_counter() - started
    try:
        path = dataset.save(args.out)
    except OSError as exc:
        print(f"dwt generate: cannot write {args.out}: {exc}", file=sys.stderr)
        return 1
    size = sum(f.stat().st_size for f in path.iterdir() if f.is_file())
    print(summary(dataset))
    print(
        f"wrote {path} ({size / 1e6:.1f} MB) in {time.perf_counter() - started:.2f} s "
        f"(generating {generated:.2f} s)"
    )
    return 0


def summary(dataset: Dataset) -> str:
    """A few lines on what was generated, from the dataset's meta."""
    meta = dataset.meta
    sizes = meta["community_sizes"]
    kinds = " · ".join(f"{kind} {count:,}" for kind, count in meta["tweets_by_kind"].items())
    lines = [
        f"members {meta['members']:,} in {meta['communities']} communities "
        f"({', '.join(f'{k}: {s}' for k, s in enumerate(sizes))}); "
        f"outsiders {meta['outsiders']:,}",
        f"window {meta['start']} .. {meta['now']} ({meta['days']} days), seed {meta['seed']}",
        f"tweets {meta['tweets']:,} ({meta['member_tweets']:,} by members): {kinds}",
        f"follows {meta['follows']:,}",
        "accounts not active: "
        + (
            ", ".join(f"{len(ids)} {state}" for state, ids in meta["accounts_by_state"].items())
            or "none"
        ),
    ]
    lines.append(f"bursts {len(meta['bursts'])}:")
    lines += [
        f"  #{b['index']} community {b['community']} #{b['tag']} {b['start']} .. {b['end']}: "
        f"{b['tweets']:,} tweets, conversation {b['conversation_id']}"
        for b in meta["bursts"]
    ]
    lines.append(f"topic bursts {len(meta['topic_bursts'])}:")
    lines += [
        f"  community {b['community']} {b['kind']} {b['topic']} {b['start']} .. {b['end']}: "
        f"{b['tweets']:,} tweets by {b['members']} members"
        for b in meta["topic_bursts"]
    ]
    hot = meta["hot_outsiders"][:5]
    lines.append(
        "hot outsiders (top 5 of {}): {}".format(
            len(meta["hot_outsiders"]),
            ", ".join(f"@{h['username']} ({h['expected_interactions']:g})" for h in hot) or "none",
        )
    )
    return "\n".join(lines)
