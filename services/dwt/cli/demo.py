"""``dwt demo``: the local product on one machine.

Today it loads the packaged sample week into the configured store (in-process by default)
and prints what the stages will work from; it grows into the full local product.
"""

from __future__ import annotations

import argparse

import pyarrow.compute as pc

from dwt.config import Settings
from dwt.samples import load_sample
from dwt.store import Store


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help="run the product locally on a sample community")
    parser.add_argument("--sample", default="small_week", help="packaged sample to load")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    store = Store.open(settings.mongo_url.get_secret_value())
    written = load_sample(store, args.sample)
    print(f"store: {store.url}")
    print(
        f"loaded sample {args.sample!r}: {written.inserted} new tweets, "
        f"{written.unchanged + written.updated} already stored"
    )
    for name, count in store.counts().items():
        print(f"  {name:<14} {count:>6}")
    print(summarise_week(store))
    return 0


def summarise_week(store: Store) -> str:
    """A few lines on the stored week, computed on the columnar read the stages use."""
    table = store.interactions()
    kinds = table.group_by("kind").aggregate([("tweet_id", "count")]).to_pylist()
    pairs = pc.list_flatten(table.column("directed_at"))
    tags = pc.value_counts(pc.list_flatten(table.column("hashtags"))).to_pylist()
    tags.sort(key=lambda t: -t["counts"])
    lines = [
        f"week: {table.num_rows} tweets from {pc.count_distinct(table['author_id']).as_py()} "
        f"authors, {len(pairs)} directed interactions",
        "  by kind: " + ", ".join(f"{k['kind']} {k['tweet_id_count']}" for k in kinds),
        "  top hashtags: " + ", ".join(f"#{t['values']} ({t['counts']})" for t in tags[:5]),
    ]
    if table.num_rows:
        lines.append(
            f"  time frame: {pc.min(table['created_at']).as_py():%Y-%m-%d %H:%M} → "
            f"{pc.max(table['created_at']).as_py():%Y-%m-%d %H:%M} UTC"
        )
    return "\n".join(lines)
