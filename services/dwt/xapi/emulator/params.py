"""Query-parameter validation with X's messages, and opaque pagination tokens.

X checks every parameter before answering and reports *all* problems at once in one 400
``Invalid Request`` body; :class:`Params` collects them the same way.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable, Sequence
from datetime import datetime

from werkzeug.datastructures import MultiDict

from dwt.model.fields import USERNAME_PATTERN

from .problems import InvalidRequest

ID_PATTERN = "^[0-9]{1,19}$"
_ID_RE = re.compile(ID_PATTERN)
_USERNAME_RE = re.compile(USERNAME_PATTERN)
_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def _b36(value: int) -> str:
    if value == 0:
        return "0"
    digits = []
    while value:
        value, rem = divmod(value, 36)
        digits.append(_B36[rem])
    return "".join(reversed(digits))


def encode_token(kind: str, value: int) -> str:
    """An opaque, checksummed pagination token (X's look like ``7140dibdnow9c7btw4232…``)."""
    check = _b36(zlib.crc32(f"dwt|{kind}|{value}".encode()) % 36**4).rjust(4, "0")
    return f"{kind}{check}{_b36(value)}"


def decode_token(token: str, kinds: str) -> tuple[str, int] | None:
    """(kind, value) of a token made by :func:`encode_token`, or None when it is not one."""
    if len(token) < 6 or token[0] not in kinds or not token.isalnum() or token != token.lower():
        return None
    try:
        value = int(token[5:], 36)
    except ValueError:
        return None
    return (token[0], value) if encode_token(token[0], value) == token else None


def parse_time(value: str) -> datetime | None:
    """RFC 3339 (``2026-11-28T10:00:00Z``, optional fraction or offset); None if invalid."""
    if not re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$", value):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment


def _millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


class Params:
    """The query string of one request, checked against what the endpoint accepts.

    ``path_params`` are listed in X's "is not one of" message (X lists them too).
    """

    def __init__(
        self, args: MultiDict[str, str], allowed: Iterable[str], path_params: Sequence[str] = ()
    ) -> None:
        self.args = args
        self.allowed = tuple(allowed)
        self.errors: list[tuple[dict[str, list[str]], str]] = []
        accepted = (*path_params, *self.allowed)
        for name in args:
            values = args.getlist(name)
            if name not in self.allowed:
                self.errors.append(
                    (
                        {name: values},
                        f"The query parameter [{name}] is not one of [{','.join(accepted)}]",
                    )
                )
            elif len(values) > 1:
                self.errors.append(
                    (
                        {name: values},
                        f"Duplicate parameters are not allowed: the `{name}` query parameter",
                    )
                )

    def fail(self, name: str, value: str | list[str], message: str) -> None:
        self.errors.append(({name: [value] if isinstance(value, str) else value}, message))

    def raise_if_invalid(self) -> None:
        if self.errors:
            raise InvalidRequest(self.errors)

    def get(self, name: str) -> str | None:
        return self.args.get(name)

    def csv(self, name: str, choices: Sequence[str]) -> tuple[str, ...]:
        """A comma-separated list whose items must each be one of ``choices``."""
        raw = self.args.get(name)
        if raw is None:
            return ()
        items = raw.split(",")
        for item in items:
            if item not in choices:
                self.fail(
                    name,
                    raw,
                    f"The `{name}` query parameter value [{item}] is not one of "
                    f"[{','.join(choices)}]",
                )
                return ()
        return tuple(dict.fromkeys(items))

    def integer(self, name: str, low: int, high: int, default: int) -> int:
        raw = self.args.get(name)
        if raw is None:
            return default
        if not re.fullmatch(r"-?\d{1,10}", raw):
            self.fail(name, raw, f"The `{name}` query parameter value [{raw}] is not a number")
            return default
        value = int(raw)
        if not low <= value <= high:
            self.fail(
                name,
                raw,
                f"The `{name}` query parameter value [{raw}] is not between {low} and {high}",
            )
            return default
        return value

    def snowflake(self, name: str) -> int | None:
        raw = self.args.get(name)
        if raw is None:
            return None
        if not _ID_RE.match(raw):
            self.fail(
                name, raw, f"The `{name}` query parameter value [{raw}] does not match {ID_PATTERN}"
            )
            return None
        return int(raw)

    def time_ms(self, name: str) -> int | None:
        raw = self.args.get(name)
        if raw is None:
            return None
        moment = parse_time(raw)
        if moment is None:
            self.fail(
                name,
                raw,
                f"The `{name}` query parameter value [{raw}] is not a valid RFC 3339 time",
            )
            return None
        return _millis(moment)

    def token(self, name: str, kinds: str) -> tuple[str, int] | None:
        raw = self.args.get(name)
        if raw is None:
            return None
        decoded = decode_token(raw, kinds)
        if decoded is None:
            self.fail(name, raw, f"The `{name}` query parameter value [{raw}] is not valid")
        return decoded

    def id_list(self, name: str, pattern: re.Pattern[str], pattern_text: str) -> list[str]:
        """``ids``/``usernames``: 1 to 100 comma-separated values, each matching ``pattern``."""
        raw = self.args.get(name)
        if raw is None or raw == "":
            self.fail(name, [], f"The `{name}` query parameter can not be empty")
            return []
        items = raw.split(",")
        if len(items) > 100:
            self.fail(
                name,
                raw,
                f"The number of values in the `{name}` query parameter list [{len(items)}] is "
                f"not between 1 and 100",
            )
            return []
        for item in items:
            if not pattern.match(item):
                self.fail(
                    name,
                    item,
                    f"The `{name}` query parameter value [{item}] does not match {pattern_text}",
                )
        return list(dict.fromkeys(items))


def check_path_id(value: str, name: str = "id") -> None:
    """Path ids must look like snowflakes, or X answers 400 before looking anything up."""
    if not _ID_RE.match(value):
        raise InvalidRequest.one(
            name, value, f"The `{name}` query parameter value [{value}] does not match {ID_PATTERN}"
        )


ID_RE = _ID_RE
USERNAME_RE = _USERNAME_RE
