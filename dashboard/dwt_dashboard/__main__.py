"""``python -m dwt_dashboard``: serve the dashboard (waitress), locally or in the cluster.

Locally (the default) runs start in this process (:class:`LocalLauncher`) and API keys
live in ``--keys-file``. With ``--kube`` runs become CommunityJobs in ``--namespace``
(in-cluster config, else the kubeconfig) and keys live in the Secret ``--keys-secret``.
Secrets come from the environment or mounted files, never from flags: ``DWT_STORE_URL``,
``DWT_DASHBOARD_SECRET_KEY`` (the session cookie's signing key).

Behind proxies, ``--trusted-proxy CIDR`` (repeatable) names them: only their requests have
``X-Forwarded-For``/``-Proto`` believed, and with ``--trusted-user-header`` (oauth2-proxy:
``X-Forwarded-Email``) only theirs may name the user.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from dwt.collect.keys import KeySource
from dwt.config import SettingsError, load_settings
from dwt.pipeline.collection import CollectConfig
from dwt.store import Store
from dwt.store.health import StoreDamaged
from dwt_dashboard.app import create_app
from dwt_dashboard.auth import OIDC_USER_HEADER, SessionPolicy, UserDirectory
from dwt_dashboard.keys import FileKeyStore, KeyStore, SecretKeyStore
from dwt_dashboard.launcher import Launcher, LocalLauncher, members_lookup_token
from dwt_dashboard.login import SECURE_COOKIE_MODES
from dwt_dashboard.serve import serve

log = logging.getLogger("dwt_dashboard")
POD_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def _parser() -> argparse.ArgumentParser:
    env = os.environ.get
    parser = argparse.ArgumentParser(prog="python -m dwt_dashboard", description=__doc__)
    parser.add_argument("--users", required=True, help="users file (username:hash:communities)")
    parser.add_argument(
        "--data-dir",
        help="directory of the embedded store (default: $DWT_DATA_DIR, else ~/.local/share/dwt);"
        " $DWT_STORE_URL names a MongoDB server instead (no flag: argv is visible to all)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="0.0.0.0 in a pod")
    parser.add_argument("--port", type=int, default=8050)
    parser.add_argument(
        "--x-api-base-url",
        default=env("DWT_X_API_BASE_URL", "https://api.twitter.com"),
        help="where keys are checked and members looked up",
    )
    parser.add_argument(
        "--trusted-user-header",
        default=env("DWT_DASHBOARD_TRUSTED_USER_HEADER"),
        help=f"take the user from this header set by an OIDC proxy ({OIDC_USER_HEADER} for"
        " oauth2-proxy), only on requests from a --trusted-proxy address",
    )
    parser.add_argument(
        "--trusted-proxy",
        action="append",
        type=_cidr,
        default=[c for c in env("DWT_DASHBOARD_TRUSTED_PROXIES", "").split(",") if c.strip()],
        metavar="CIDR",
        help="a proxy in front (repeatable): its X-Forwarded-For/-Proto and user header are"
        " believed, nobody else's",
    )
    parser.add_argument(
        "--proxy-hops",
        type=int,
        default=1,
        help="proxies in front that append to X-Forwarded-For (the client is that many back)",
    )
    parser.add_argument(
        "--secure-cookies",
        choices=SECURE_COOKIE_MODES,
        default=env("DWT_DASHBOARD_SECURE_COOKIES", "auto"),
        help="mark the session cookie Secure: auto = when the request came over TLS (directly"
        " or per a trusted proxy's X-Forwarded-Proto)",
    )
    parser.add_argument(
        "--session-idle-minutes", type=float, default=30.0, help="log out after this idle time"
    )
    parser.add_argument(
        "--session-hours", type=float, default=12.0, help="log out this long after login"
    )
    local = parser.add_argument_group("local mode")
    local.add_argument(
        "--keys-file",
        default=env("DWT_API_KEYS_FILE"),
        help="X API keys file the API keys page manages and collection uses",
    )
    cluster = parser.add_argument_group("cluster mode")
    cluster.add_argument("--kube", action="store_true", help="runs become CommunityJobs")
    cluster.add_argument(
        "--namespace",
        default=env("DWT_DASHBOARD_NAMESPACE"),
        help="of the CommunityJobs and the keys Secret (default: the pod's own)",
    )
    cluster.add_argument(
        "--keys-secret", default=env("DWT_DASHBOARD_KEYS_SECRET"), help="the API-key Secret"
    )
    return parser


def _cidr(text: str) -> str:
    try:
        return str(ipaddress.ip_network(text.strip(), strict=False))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _kube(args: argparse.Namespace, store: Store) -> tuple[Launcher, KeyStore | None]:
    import kubernetes

    try:
        kubernetes.config.load_incluster_config()
    except kubernetes.config.ConfigException:
        kubernetes.config.load_kube_config()
    namespace = args.namespace or (
        POD_NAMESPACE.read_text().strip() if POD_NAMESPACE.exists() else "default"
    )
    keys = None
    if args.keys_secret:
        core = kubernetes.client.CoreV1Api()
        keys = SecretKeyStore(core, namespace, args.keys_secret, args.x_api_base_url)
    from dwt_dashboard.kube_launcher import KubeLauncher

    launcher = KubeLauncher(
        kubernetes.client.CustomObjectsApi(),
        namespace,
        store,
        keys_secret=args.keys_secret,
        lookup_token=members_lookup_token(keys),
        x_api_base_url=args.x_api_base_url,
    )
    log.info("cluster mode: CommunityJobs in %s, keys in Secret %s", namespace, args.keys_secret)
    return launcher, keys


def _local(args: argparse.Namespace, store: Store) -> tuple[Launcher, KeyStore | None]:
    keys = FileKeyStore(args.keys_file, args.x_api_base_url) if args.keys_file else None
    collect = None
    if args.keys_file:
        source = KeySource(file=args.keys_file, from_env=False)
        collect = CollectConfig(keys=source, base_url=args.x_api_base_url)
    launcher = LocalLauncher(
        store,
        collect,
        lookup_token=members_lookup_token(keys),
        x_api_base_url=args.x_api_base_url,
    )
    launcher.start_scheduler()
    return launcher, keys


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if args.keys_file and args.kube:
        raise SystemExit("--keys-file is for local mode; with --kube give --keys-secret")
    try:  # the ones from $DWT_DASHBOARD_TRUSTED_PROXIES were not checked by argparse
        args.trusted_proxy = [_cidr(c) for c in args.trusted_proxy]
    except argparse.ArgumentTypeError as exc:
        raise SystemExit(f"--trusted-proxy: {exc}") from None
    if args.trusted_user_header and not args.trusted_proxy:
        raise SystemExit(
            "--trusted-user-header needs --trusted-proxy CIDR (the proxy's address): without"
            " it anyone could send the header"
        )
    try:
        settings = load_settings({"data_dir": args.data_dir})
    except SettingsError as exc:
        print(f"python -m dwt_dashboard: {exc}", file=sys.stderr)
        return 2
    try:
        store = Store.open(settings.store_url_value)
    except StoreDamaged as exc:
        print(f"python -m dwt_dashboard: {exc}", file=sys.stderr)
        return 2
    launcher, keys = (_kube if args.kube else _local)(args, store)
    app: Any = create_app(
        store,
        launcher,
        UserDirectory.load(args.users),
        keys=keys,
        trusted_user_header=args.trusted_user_header,
        trusted_proxies=args.trusted_proxy,
        proxy_hops=args.proxy_hops,
        secure_cookies=args.secure_cookies,
        session_policy=SessionPolicy(
            idle=timedelta(minutes=args.session_idle_minutes),
            lifetime=timedelta(hours=args.session_hours),
        ),
    )
    log.info("store %s", settings.store_url_redacted)
    serve(app, args.host, args.port, lambda url: log.info("serving %s", url))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
