"""``dwt demo``: the whole product on one machine.

Generates a community, serves it from the X API v2 emulator (real HTTP, the week ending
now), adds its members, and runs every step — collection through the real tweepy client,
then discovery, bonds, Infomap clusters and conversations — on local Ray, into the
configured store (in-process by default). Prints what a person would look at first.
"""

from __future__ import annotations

import argparse
import secrets
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from dwt.collect.keys import KeySource
from dwt.config import Settings
from dwt.generate import generate_community
from dwt.pipeline.collection import CollectConfig, collect
from dwt.pipeline.progress import Progress
from dwt.pipeline.runner import new_run_id, run_pipeline
from dwt.pipeline.spec import RunSpec, Step
from dwt.private import write_private
from dwt.store import Coll, Store
from dwt.store.candidates import pending_candidates
from dwt.xapi.emulator import EmulatorConfig, EmulatorServer

DEMO_KEY = "demo-key-not-a-secret"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo", help="run the whole product locally on a generated community"
    )
    parser.add_argument(
        "--members", type=_positive, default=300, help="members to generate (default 300)"
    )
    parser.add_argument(
        "--communities",
        type=_positive,
        default=6,
        help="planted sub-communities the members split into (default 6)",
    )
    parser.add_argument(
        "--seed", type=int, default=1, help="the generator's seed: the same seed, the same week"
    )
    parser.add_argument("--community", default="demo", help="community name")
    parser.add_argument("--no-ray", action="store_true", help="run without Ray (threads)")
    parser.add_argument(
        "--serve",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="then serve the dashboard until Ctrl-C (default)",
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address the dashboard listens on (default 127.0.0.1, this machine only; "
        "0.0.0.0: every network the machine is on)",
    )
    parser.add_argument("--port", type=int, default=8050, help="dashboard port (0: any free)")
    parser.set_defaults(handler=run)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"needs a positive number, not {value}")
    return value


def run(args: argparse.Namespace, settings: Settings) -> int:
    started = time.perf_counter()
    say = lambda line: print(line, flush=True)  # noqa: E731 - a local shorthand
    dataset = generate_community(members=args.members, communities=args.communities, seed=args.seed)
    say(
        f"generated {args.members} members in {args.communities} planted sub-communities, "
        f"{dataset.tweets.num_rows:,} tweets over {dataset.meta['days']} days"
    )
    # Demo budgets are generous so the first run takes seconds; the real X API's limits
    # (and the emulator's defaults) are far lower, which collection handles by waiting.
    config = EmulatorConfig(tokens=[DEMO_KEY], rate_limit=100_000)
    with EmulatorServer(dataset, config) as server, tempfile.TemporaryDirectory() as tmp:
        say(f"X API v2 emulator at {server.base_url}")
        keys_file = Path(tmp) / "api-keys"  # collectors read keys where they run
        write_private(keys_file, DEMO_KEY)
        store = Store.open(settings.store_url_value)
        say(f"store: {settings.store_url_redacted} (every later dwt command sees it)")
        members = dataset.users.filter(dataset.users["is_member"]).select(["id", "username"])
        store.add_members(args.community, members.to_pylist(), source="import")
        if not args.no_ray:
            from dwt.pipeline.ray_runtime import ensure_ray

            say(f"ray: {ensure_ray(settings.ray_address)}")
        keys = KeySource(file=str(keys_file), from_env=False)
        collector = CollectConfig(keys=keys, base_url=server.base_url, use_ray=not args.no_ray)
        spec = RunSpec(community=args.community, window_days=dataset.meta["days"])
        run_id = new_run_id(args.community, datetime.now(UTC))
        progress = Progress(store, run_id, stream=None, human=lambda line: say("  " + line))
        result = run_pipeline(
            store,
            spec,
            now=datetime.now(UTC),
            progress=progress,
            steps={Step.COLLECT: lambda week, run_id: collect(week, run_id, collector)},
        )
        print(summarise(store, args.community))
        say(
            f"run {result.run_id} {result.status} in {time.perf_counter() - started:.1f}s "
            f"(store: {store.url})"
        )
        if result.status != "succeeded":
            return 1
        if args.serve:
            # The emulator stays up while the dashboard serves: it can collect, look members
            # up and check keys, as it would against X.
            serve_dashboard(store, args.community, args.host, args.port, say, collector, keys_file)
    return 0


def serve_dashboard(
    store: Store,
    community: str,
    host: str,
    port: int,
    say: Callable[[str], None],
    collector: CollectConfig,
    keys_file: Path,
) -> None:
    """Serve the dashboard for the demo community, with a one-time password printed here
    (never stored, never in a page)."""
    from dwt_dashboard.app import create_app
    from dwt_dashboard.auth import UserDirectory, user_line
    from dwt_dashboard.keys import FileKeyStore
    from dwt_dashboard.launcher import LocalLauncher, members_lookup_token
    from dwt_dashboard.serve import serve

    password = secrets.token_urlsafe(9)
    users = UserDirectory.parse(user_line("demo", password, [community]))
    keys = FileKeyStore(keys_file, collector.base_url)
    launcher = LocalLauncher(store, collector, lookup_token=members_lookup_token(keys))
    launcher.start_scheduler()
    app = create_app(store, launcher, users, keys=keys)

    def ready(url: str) -> None:
        say(f"dashboard: {url}  (log in as demo / {password}; Ctrl-C stops)")

    try:
        serve(app, host, port, ready)
    finally:
        launcher.stop()
        say("stopped")


def summarise(store: Store, community: str) -> str:
    """What a person looks at first: clusters, who to add, what is trending."""
    lines = ["", "clusters (largest first):"]
    clusters = store[Coll.CLUSTERS].find(store.shown(Coll.CLUSTERS, community)).sort("cluster", 1)
    for doc in clusters:
        if doc["cluster"] < 0:
            lines.append(f"  -  {doc['size']:>4} members with no interactions this week")
            continue
        central = ", ".join(_names(store, doc["central"][:3]))
        lines.append(
            f"  {doc['cluster']:>2} {doc['size']:>4} members  {doc['label']:<34} {central}"
        )
    lines.append("accounts to discover (outside the community):")
    for cand in pending_candidates(store, community)[:5]:
        lines.append(
            f"  @{cand.get('username') or cand['account_id']:<20} "
            f"{cand['interactions']:>4} interactions from {cand['members']} members"
        )
    lines.append("trending conversations:")
    trending = store[Coll.CONVERSATIONS].find(
        store.shown(Coll.CONVERSATIONS, community, trending=True)
    )
    for conv in list(trending.sort([("size", -1)]).limit(5)):
        lines.append(
            f"  cluster {conv['cluster']} tier {conv['tier']}: {conv['size']} tweets "
            f"from {conv['participants']} members  https://x.com/i/status/{conv['conversation_id']}"
        )
    return "\n".join(lines)


def _names(store: Store, account_ids: list[str]) -> list[str]:
    names = store.usernames(account_ids)
    return [f"@{names.get(a, a)}" for a in account_ids]
