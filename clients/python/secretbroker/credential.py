"""Values returned by the secretbroker client: Credential, Source, Locker,
Place, WriteResult.

A :class:`Credential` behaves as a read-only mapping of its attributes, and
its ``repr()`` and ``str()`` show the attribute names only, never a value, so
a credential that reaches a log, a traceback or a debugger prints masked.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Iterator, Optional, Tuple, Union

__all__ = ["Credential", "Source", "Locker", "Place", "WriteResult", "scope_name"]

Value = Union[str, bytes]

_SCOPES = {1: "user", 2: "system", 3: "auto_login"}


def scope_name(scope: int) -> str:
    """Returns "user", "system" or "auto_login" for a Scope enum value
    ("" when unspecified)."""
    return _SCOPES.get(int(scope), "")


@dataclass(frozen=True)
class Source:
    """Where a credential was read from (or written to). It holds names,
    never values."""

    provider: str = ""
    """The provider instance in the broker's configuration."""
    provider_kind: str = ""
    """aws, azure, hashicorp, cyberark or embedded."""
    locker: str = ""
    """The locker, empty for auto-login credentials."""
    location: str = ""
    """The CyberArk Safe, empty for prefix-based providers."""
    secret_name: str = ""
    """The encoded name of the secret in the vault."""
    logical_name: str = ""
    """The name before encoding."""
    scope: str = ""
    """user, system or auto_login."""
    place: int = 0
    """Index of the locker's place that served (more than 0: failed over)."""


class Credential(Mapping):
    """A credential: a read-only mapping of attribute name to value.

    Values are ``str``; an attribute whose value is not valid UTF-8 is
    ``bytes``. ``username``, ``password`` and ``domain`` are shortcuts for
    the attributes of those names (``None`` when absent). ``login_name`` is
    the broker's login name (username template or the username attribute),
    ``source`` says where it came from, ``stale`` is true when the vault
    could not be reached and the broker served a cached value past its time
    to live.

    ``repr()`` and ``str()`` never show a value: only the attribute names.
    """

    __slots__ = ("_values", "source", "login_name", "version", "updated_at", "stale")

    def __init__(
        self,
        values: Mapping[str, Value],
        *,
        source: Optional[Source] = None,
        login_name: str = "",
        version: str = "",
        updated_at: Optional[_dt.datetime] = None,
        stale: bool = False,
    ) -> None:
        self._values = dict(values)
        self.source = source if source is not None else Source()
        self.login_name = login_name
        self.version = version
        self.updated_at = updated_at
        self.stale = stale

    def __getitem__(self, key: str) -> Value:
        try:
            return self._values[key]
        except KeyError:
            # The key is a name the caller chose, never a value.
            raise KeyError(f"the credential has no attribute {key!r} (it has {sorted(self._values)})") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __contains__(self, key: object) -> bool:
        return key in self._values

    @property
    def username(self) -> Optional[Value]:
        """The ``username`` attribute, or None."""
        return self._values.get("username")

    @property
    def password(self) -> Optional[Value]:
        """The ``password`` attribute, or None."""
        return self._values.get("password")

    @property
    def domain(self) -> Optional[Value]:
        """The ``domain`` attribute, or None."""
        return self._values.get("domain")

    @property
    def scope(self) -> str:
        """user, system or auto_login (from ``source``)."""
        return self.source.scope

    def __repr__(self) -> str:
        parts = [f"keys={sorted(self._values)!r}"]
        if self.source.secret_name:
            parts.append(f"scope={self.source.scope!r}")
            parts.append(f"secret_name={self.source.secret_name!r}")
            parts.append(f"provider={self.source.provider!r}")
        if self.stale:
            parts.append("stale=True")
        return f"Credential({', '.join(parts)})"

    __str__ = __repr__

    def __reduce__(self):
        # Pickling would copy the values somewhere the caller did not ask
        # for (a multiprocessing queue, a cache on disk); say so instead.
        raise TypeError("a secretbroker Credential cannot be pickled; copy the attributes you need with dict(cred)")


@dataclass(frozen=True)
class Place:
    """Where a locker's credentials live in one provider."""

    provider: str = ""
    provider_kind: str = ""
    prefix: str = ""
    safe: str = ""


@dataclass(frozen=True)
class Locker:
    """A locker as the broker lists it: its first place, whether it is
    writable, and all places in failover order."""

    name: str
    provider: str = ""
    provider_kind: str = ""
    prefix: str = ""
    safe: str = ""
    writable: bool = False
    places: Tuple[Place, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class WriteResult:
    """Where put_credential stored, or delete_credential deleted, a
    credential."""

    source: Source
    scope: str
    version: str = ""
