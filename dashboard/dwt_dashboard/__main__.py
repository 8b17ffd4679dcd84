"""``python -m dwt_dashboard --users FILE --mongo-url URL``: serve the dashboard locally.

Binds 127.0.0.1 only; in the cluster a proper WSGI server and ingress front it.
"""

from __future__ import annotations

import argparse
import logging
import os

from dwt.store import Store
from dwt_dashboard.app import create_app
from dwt_dashboard.auth import UserDirectory
from dwt_dashboard.keys import FileKeyStore
from dwt_dashboard.launcher import LocalLauncher


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dwt_dashboard")
    parser.add_argument("--users", required=True, help="users file (username:hash:communities)")
    parser.add_argument(
        "--mongo-url",
        default=os.environ.get("DWT_MONGO_URL", "mongomock://localhost/dwt"),
        help="store URL (default: $DWT_MONGO_URL)",
    )
    parser.add_argument("--port", type=int, default=8050)
    parser.add_argument(
        "--keys-file",
        default=os.environ.get("DWT_API_KEYS_FILE"),
        help="X API keys file the API keys page manages (default: $DWT_API_KEYS_FILE)",
    )
    parser.add_argument(
        "--x-api-base-url",
        default=os.environ.get("DWT_X_API_BASE_URL", "https://api.twitter.com"),
        help="where new keys are checked",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    store = Store.open(args.mongo_url)
    keys = FileKeyStore(args.keys_file, args.x_api_base_url) if args.keys_file else None
    app = create_app(store, LocalLauncher(store), UserDirectory.load(args.users), keys=keys)
    logging.getLogger(__name__).info("store %s; serving http://127.0.0.1:%d", store.url, args.port)
    app.run(host="127.0.0.1", port=args.port, debug=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
