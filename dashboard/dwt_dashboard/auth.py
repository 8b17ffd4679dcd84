"""Who may log in, with which role in which community, and how a request proves who it is.

**The users file** holds one ``username:hash:grants`` line per person (``#`` comments
allowed). ``hash`` is ``pbkdf2_sha256$iterations$salt_hex$hash_hex`` (no password is ever
stored; ``!`` for people who only come through an OIDC proxy). ``grants`` is a comma-separated
list of ``community=role`` with ``role`` one of ``viewer`` (sees the community's pages),
``editor`` (also acts on it: candidates, members, runs, schedule) and ``admin`` (also sees who
else uses it and ends their sessions); ``*`` instead of a community name grants the role in
every community. A bare ``community`` (the format's first version) means ``editor``. The X API
keys serve every community, so only someone who is admin of every community may change them.
The file is read again when it changes: new roles apply at once, and a changed password or a
removed line ends that person's sessions.

**Sessions** are records in the store (:class:`SessionStore`): the cookie carries only a
random id (signed), a record ends at logout, on a password change, after ``idle`` without
use and ``lifetime`` after login, whatever the cookie says. Login is a plain Flask form
with a CSRF token, throttled per address and per address + username (:class:`LoginThrottle`,
bounded in memory), and as slow for an unknown user as for a known one.

**Behind proxies** (:class:`TrustedProxies`), the client's address and scheme come from
``X-Forwarded-For`` / ``X-Forwarded-Proto`` only when the peer is a configured proxy; with
``trusted_header`` an OIDC proxy (oauth2-proxy: ``X-Forwarded-Email``) names the user, and
that header too is taken only from a configured proxy address.

The Flask side (the forms, the guard every request passes, cookies and headers) is
:mod:`dwt_dashboard.login`.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import ipaddress
import logging
import re
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import flask

from dwt.store import Coll, Store
from dwt.store.sessions import drop_expired_sessions, live_sessions, touch_session

log = logging.getLogger(__name__)

ALGORITHM = "pbkdf2_sha256"
ITERATIONS = 600_000
#: Usernames: plain names or e-mail addresses (what an OIDC proxy sends).
USERNAME_MAX = 254
_USERNAME = re.compile(r"^[A-Za-z0-9_.@+-]{1,254}$")
#: A community name in the users file (the store's own names never hold ``:`` ``,`` ``=``).
_COMMUNITY = re.compile(r"^[^\s:,=]+$")
#: Longer passwords are refused unhashed (PBKDF2 of megabytes is a denial of service).
PASSWORD_MAX = 1024
#: The largest request body the dashboard reads (a callback with the page's state); the
#: WSGI server refuses a larger declared body before reading it (dwt_dashboard.serve).
MAX_BODY = 4 * 1024 * 1024
#: The largest body of the login and logout forms, and each field's longest value: checked
#: before the form is parsed, urlencoded or multipart alike.
FORM_BODY_MAX = 16 * 1024
FORM_FIELDS_MAX = {"username": USERNAME_MAX, "password": PASSWORD_MAX, "next": 2000,
                   "csrf_token": 128}  # fmt: skip
FORM_PATHS = ("/login", "/logout")
#: Every community, in a users-file grant (``*=viewer``).
EVERY_COMMUNITY = "*"
#: The header oauth2-proxy sets on the requests it forwards (``--pass-user-headers``, on by
#: default, replacing whatever the client sent): the one the docs and the chart name.
OIDC_USER_HEADER = "X-Forwarded-Email"
#: Endpoints served without a session: the login form and the probe (and the CSS the form
#: uses: static ``.css`` files of the assets folder only, never Dash's app shell).
PUBLIC_ENDPOINTS = frozenset({"login", "healthz"})
ASSETS_ENDPOINT = "_dash_assets.static"


class Role(enum.IntEnum):
    """What a person may do in one community; each role includes the ones below it."""

    VIEWER = 1
    EDITOR = 2
    ADMIN = 3

    @classmethod
    def named(cls, name: str) -> Role:
        try:
            return cls[name.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown role {name!r} (viewer, editor or admin)") from None


#: The role of a bare community name (a line of the users file's first format).
DEFAULT_ROLE = Role.EDITOR


def hash_password(password: str, iterations: int = ITERATIONS, salt: bytes | None = None) -> str:
    """A salted PBKDF2-SHA256 hash, in the users file's format."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    return f"{ALGORITHM}${iterations}${salt.hex()}${digest.hex()}"


def _parse_hash(encoded: str) -> tuple[int, bytes, bytes] | None:
    try:
        algorithm, iterations, salt_hex, hash_hex = encoded.split("$")
        parsed = int(iterations), bytes.fromhex(salt_hex), bytes.fromhex(hash_hex)
    except ValueError:
        return None
    return parsed if algorithm == ALGORITHM and parsed[0] > 0 else None


def verify_password(password: str, encoded: str) -> bool:
    """True when ``password`` matches ``encoded`` (constant-time compare)."""
    parsed = _parse_hash(encoded)
    if parsed is None:
        return False
    rounds, salt, expected = parsed
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, rounds)
    return hmac.compare_digest(digest, expected)


def _grants_text(communities: Iterable[str] | Mapping[str, str | Role], role: str | Role) -> str:
    pairs = (
        [(c, r) for c, r in communities.items()]
        if isinstance(communities, Mapping)
        else [(c, role) for c in communities]
    )
    parts = []
    for community, given in pairs:
        if not _COMMUNITY.match(community):
            raise ValueError(f"not a valid community name: {community!r}")
        named = given if isinstance(given, Role) else Role.named(given)
        parts.append(f"{community}={named.name.lower()}")
    return ",".join(parts)


def user_line(
    username: str,
    password: str,
    communities: Iterable[str] | Mapping[str, str | Role],
    role: str | Role = Role.ADMIN,
    **kw: int,
) -> str:
    """One users-file line: ``communities`` is a list (each gets ``role``, admin unless told)
    or a mapping of community to role; ``"*"`` stands for every community."""
    if not _USERNAME.match(username):
        raise ValueError(f"not a valid dashboard username: {username!r}")
    return f"{username}:{hash_password(password, **kw)}:{_grants_text(communities, role)}"


@dataclass(frozen=True)
class User:
    username: str
    password_hash: str
    roles: Mapping[str, Role] = field(default_factory=dict)

    @property
    def communities(self) -> tuple[str, ...]:
        """The communities named in the user's line (``*`` excluded)."""
        return tuple(c for c in self.roles if c != EVERY_COMMUNITY)

    @property
    def everywhere(self) -> Role | None:
        """The role granted in every community (``*``), if any."""
        return self.roles.get(EVERY_COMMUNITY)

    def role(self, community: str | None) -> Role | None:
        if not community:
            return None
        found = [r for r in (self.roles.get(community), self.everywhere) if r is not None]
        return max(found) if found else None


def _parse_line(number: int, line: str) -> User:
    parts = line.split(":")
    if len(parts) != 3 or not _USERNAME.match(parts[0]):
        raise ValueError(f"users file line {number}: expected username:hash:communities")
    roles: dict[str, Role] = {}
    for grant in (g.strip() for g in parts[2].split(",")):
        if not grant:
            continue
        name, given, role_name = grant.partition("=")
        name = name.strip()
        if not _COMMUNITY.match(name):
            raise ValueError(f"users file line {number}: not a community name: {name!r}")
        try:
            role = Role.named(role_name) if given else DEFAULT_ROLE
        except ValueError as exc:
            raise ValueError(f"users file line {number}: {exc}") from None
        roles[name] = max(role, roles.get(name, role))
    return User(parts[0], parts[1], roles)


def _fingerprint(password_hash: str) -> str:
    """Names a password hash without revealing it: a session remembers the one it began
    with, so a changed password ends it."""
    return hashlib.sha256(password_hash.encode()).hexdigest()[:32]


class UserDirectory:
    """The people allowed in and their role in each community. Loaded from a file, it
    reads the file again when it changes (checked at most once a second)."""

    def __init__(self, users: list[User], path: Path | None = None) -> None:
        self._users = {u.username: u for u in users}
        self._path = path
        self._stamp = self._file_stamp()
        self._checked = time.monotonic()
        self._dummy: str | None = None
        self._lock = threading.Lock()

    @classmethod
    def parse(cls, text: str, path: Path | None = None) -> UserDirectory:
        return cls(cls._parse_users(text), path)

    @staticmethod
    def _parse_users(text: str) -> list[User]:
        users = []
        for number, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if line and not line.startswith("#"):
                users.append(_parse_line(number, line))
        return users

    @classmethod
    def load(cls, path: str | Path) -> UserDirectory:
        path = Path(path)
        return cls.parse(path.read_text(), path)

    def _file_stamp(self) -> tuple[int, int] | None:
        if self._path is None:
            return None
        try:
            stat = self._path.stat()
        except OSError:
            return None
        return stat.st_mtime_ns, stat.st_size

    def reload_if_changed(self, force: bool = False) -> None:
        """Read the file again if it changed (a Secret update, an edit)."""
        if self._path is None or (not force and time.monotonic() - self._checked < 1.0):
            return
        with self._lock:
            self._checked = time.monotonic()
            stamp = self._file_stamp()
            if stamp == self._stamp and not force:
                return
            try:
                users = self._parse_users(self._path.read_text())
            except (OSError, ValueError) as exc:  # keep serving with what was read last
                log.error("users file %s not reloaded: %s", self._path, exc)
                return
            self._stamp = stamp
            self._users = {u.username: u for u in users}
            self._dummy = None
            log.info("users file %s reloaded (%d users)", self._path, len(users))

    def get(self, username: str | None) -> User | None:
        self.reload_if_changed()
        if not username or len(username) > USERNAME_MAX:
            return None
        return self._users.get(username)

    def usernames(self) -> list[str]:
        self.reload_if_changed()
        return sorted(self._users)

    def _dummy_hash(self) -> str:
        """A hash as costly to check as the real ones (the most iterations any user has)."""
        if self._dummy is None:
            rounds = [p[0] for u in self._users.values() if (p := _parse_hash(u.password_hash))]
            self._dummy = hash_password(secrets.token_hex(16), max(rounds, default=ITERATIONS))
        return self._dummy

    def authenticate(self, username: str, password: str) -> User | None:
        """The user, if the password is theirs. An unknown user, an OIDC-only one (``!``), or
        an oversized name or password costs one PBKDF2 of the same strength as a real check,
        so the answer's timing does not tell whether the user exists."""
        user = self.get(username)
        encoded = user.password_hash if user and _parse_hash(user.password_hash) else None
        if len(password) > PASSWORD_MAX:
            encoded = None
        matched = verify_password(password[:PASSWORD_MAX], encoded or self._dummy_hash())
        return user if matched and encoded is not None else None

    def fingerprint(self, username: str | None) -> str | None:
        user = self.get(username)
        return _fingerprint(user.password_hash) if user else None

    def role(self, username: str | None, community: str | None) -> Role | None:
        user = self.get(username)
        return user.role(community) if user else None

    def communities(self, username: str | None) -> list[str]:
        """The communities named in the user's line (``*`` grants are resolved against the
        store by :class:`dwt_dashboard.access.Access`)."""
        user = self.get(username)
        return list(user.communities) if user else []

    def allowed(self, username: str | None, community: str | None) -> bool:
        """May ``username`` see ``community`` (any role)?"""
        return self.role(username, community) is not None


def current_user() -> str | None:
    """The user the current request was authenticated as (by the guard
    :func:`dwt_dashboard.login.install` sets up)."""
    return flask.g.get("user") if flask.has_request_context() else None


# ---- throttling ----------------------------------------------------------------------------

#: The prefix one IPv6 client holds: a /64 is one subscriber's network (2^64 addresses).
IPV6_CLIENT_PREFIX = 64


def client_network(address: str) -> str:
    """What the throttle counts as one client: an IPv4 address, or an IPv6 address's /64
    (anyone holding one /64 could otherwise try 2^64 addresses)."""
    found = _address(address)
    if found is None or found.version == 4:
        return str(found) if found is not None else address
    network = ipaddress.ip_network(f"{found}/{IPV6_CLIENT_PREFIX}", strict=False)
    return str(network)


class LoginThrottle:
    """Refuses logins for a while after ``limit`` failures for one username from one address,
    or ``address_limit`` failures from one address, within ``window_s``. Someone elsewhere
    cannot lock a person out (the username alone is never a key), and memory is bounded: keys
    are fixed-size digests, each keeps at most its limit of timestamps, and at most
    ``max_keys`` keys are kept (the least recently failed go first)."""

    def __init__(
        self,
        limit: int = 5,
        window_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
        address_limit: int | None = None,
        max_keys: int = 10_000,
    ) -> None:
        self.limit = limit
        self.address_limit = address_limit or limit * 6
        self.window_s = window_s
        self.clock = clock
        self.max_keys = max_keys
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._failures)

    @staticmethod
    def _keys(address: str, username: str) -> list[tuple[str, str]]:
        address = client_network(address)
        pair = hashlib.sha256(f"{address}\0{username[:USERNAME_MAX]}".encode()).hexdigest()[:32]
        return [(f"a:{address[:64]}", "address"), (f"u:{pair}", "user")]

    def _limit(self, kind: str) -> int:
        return self.address_limit if kind == "address" else self.limit

    def _recent(self, key: str) -> deque[float] | None:
        found = self._failures.get(key)
        if found is None:
            return None
        while found and found[0] <= self.clock() - self.window_s:
            found.popleft()
        if not found:
            del self._failures[key]
            return None
        return found

    def retry_after(self, address: str, username: str) -> float:
        """Seconds until a login may be tried again from ``address`` as ``username`` (0: now)."""
        with self._lock:
            waits = []
            for key, kind in self._keys(address, username):
                found = self._recent(key)
                if found is not None and len(found) >= self._limit(kind):
                    waits.append(found[0] + self.window_s - self.clock())
            return max(waits, default=0.0)

    def failed(self, address: str, username: str) -> None:
        with self._lock:
            for key, kind in self._keys(address, username):
                found = self._recent(key)
                if found is None:
                    found = self._failures[key] = deque(maxlen=self._limit(kind))
                found.append(self.clock())
                self._failures.move_to_end(key)
            while len(self._failures) > self.max_keys:
                self._failures.popitem(last=False)

    def succeeded(self, address: str, username: str) -> None:
        with self._lock:
            _, (pair, _) = self._keys(address, username)
            self._failures.pop(pair, None)


# ---- proxies -------------------------------------------------------------------------------


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        found = ipaddress.ip_address(text.strip().removeprefix("[").split("]")[0])
    except ValueError:
        return None
    mapped = getattr(found, "ipv4_mapped", None)
    return mapped or found


class TrustedProxies:
    """The proxies in front of the dashboard (``--trusted-proxy CIDR``). Only a request whose
    peer is one of them has its ``X-Forwarded-For`` / ``X-Forwarded-Proto`` (and an OIDC
    proxy's user header) believed; the client is the address ``hops`` proxies back (the one
    the nearest proxy appended, with the default 1)."""

    def __init__(self, cidrs: Iterable[str] = (), hops: int = 1) -> None:
        self.networks: list[Network] = [
            ipaddress.ip_network(c.strip(), strict=False) for c in cidrs
        ]
        if hops < 1:
            raise ValueError("proxy hops must be at least 1")
        self.hops = hops

    def __bool__(self) -> bool:
        return bool(self.networks)

    def trusts(self, address: str | None) -> bool:
        found = _address(address or "")
        return found is not None and any(found in net for net in self.networks)

    def peer_trusted(self, request: flask.Request) -> bool:
        return self.trusts(request.remote_addr)

    def client_address(self, request: flask.Request) -> str:
        peer = request.remote_addr or ""
        if not self.peer_trusted(request):
            return peer
        hops = [h.strip() for h in request.headers.get("X-Forwarded-For", "").split(",")]
        hops = [h for h in hops if h]
        if not hops:
            return peer
        chosen = hops[-self.hops] if len(hops) >= self.hops else hops[0]
        found = _address(chosen)
        return str(found) if found is not None else peer

    def is_https(self, request: flask.Request) -> bool:
        if request.scheme == "https":
            return True
        if not self.peer_trusted(request):
            return False
        proto = request.headers.get("X-Forwarded-Proto", "").split(",")[-1].strip().lower()
        return proto == "https"


# ---- server-side sessions ------------------------------------------------------------------


@dataclass(frozen=True)
class SessionPolicy:
    """How long a session lives: ``idle`` without a request a person made (the Jobs page's
    polling does not count), ``lifetime`` after login at most."""

    idle: timedelta = timedelta(minutes=30)
    lifetime: timedelta = timedelta(hours=12)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


#: How often ``seen_at`` is written (a write per request would be wasteful).
TOUCH_EVERY = timedelta(seconds=30)


def _digest(token: str) -> str:
    """The record's id: a reader of the store cannot turn it back into a cookie."""
    return hashlib.sha256(token.encode()).hexdigest()


class SessionStore:
    """Session records in the store (collection ``dashboard_sessions``), one per login."""

    def __init__(self, store: Store, policy: SessionPolicy | None = None) -> None:
        self.store = store
        self.policy = policy or SessionPolicy()

    @property
    def _coll(self) -> Any:
        return self.store[Coll.SESSIONS]

    def create(self, user: str, fingerprint: str, address: str) -> str:
        now = self.policy.clock()
        drop_expired_sessions(self.store, now)  # the ones nobody ended
        token = secrets.token_urlsafe(32)
        doc = {
            "_id": _digest(token),
            "user": user,
            "pw": fingerprint,
            "address": address[:64],
            "created_at": now,
            "seen_at": now,
            "expires_at": now + self.policy.lifetime,
        }
        self.store.upsert(Coll.SESSIONS, [doc])
        return token

    def resolve(
        self, token: str, fingerprint: Callable[[str], str | None], touch: bool = True
    ) -> str | None:
        """The user of a live session, or None, ending the record if it ran out or if
        ``fingerprint(user)`` (the user's password hash, named) is not the one it began with:
        the password changed, or the user is gone."""
        doc = self._coll.find_one({"_id": _digest(token)})
        if doc is None:
            return None
        now = self.policy.clock()
        current = fingerprint(doc["user"])
        if (
            now >= doc["expires_at"]
            or now - doc["seen_at"] > self.policy.idle
            or current is None
            or not hmac.compare_digest(doc.get("pw", ""), current)
        ):
            self._coll.delete_many({"_id": doc["_id"]})
            return None
        if touch and now - doc["seen_at"] >= TOUCH_EVERY:
            touch_session(self.store, doc["_id"], now)
        return doc["user"]

    def revoke(self, token: str) -> None:
        self._coll.delete_many({"_id": _digest(token)})

    def revoke_user(self, user: str) -> int:
        return self._coll.delete_many({"user": user}).deleted_count

    def active(self, users: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Live sessions per user: how many, and when one was last used."""
        now = self.policy.clock()
        found: dict[str, dict[str, Any]] = {}
        for doc in live_sessions(self.store, users, now):
            if now - doc["seen_at"] > self.policy.idle:
                continue
            entry = found.setdefault(doc["user"], {"sessions": 0, "seen_at": doc["seen_at"]})
            entry["sessions"] += 1
            entry["seen_at"] = max(entry["seen_at"], doc["seen_at"])
        return found
