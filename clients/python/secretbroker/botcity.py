"""A drop-in for BotCity Maestro's ``get_credential(label, key)``.

::

    from secretbroker import get_credential

    password = get_credential(label="demo/erp", key="password")

Replaces ``maestro.get_credential(label=..., key=...)``: it connects with a
:class:`~secretbroker.Client` configured from the environment
(SECRETBROKER_ADDR, SECRETBROKER_TOKEN, ...), asks for the credential as the
Control Room user $SECRETBROKER_USERNAME (unset: the system credential) and
returns the bare value of ``key``.
"""

from __future__ import annotations

import os
from typing import Optional, Tuple, Union

from .client import Client

__all__ = ["get_credential", "split_name"]


def split_name(name: str, *, default_locker: Optional[str] = None, what: str = "name") -> Tuple[str, str]:
    """Splits "locker/credential" into (locker, credential). A name without
    "/" is a credential in ``default_locker`` (else $SECRETBROKER_LOCKER);
    with neither, ValueError says what to write."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"{what} must be a non-empty str such as 'demo/erp' (locker/credential)")
    locker, sep, credential = name.partition("/")
    if sep:
        if not locker or not credential or "/" in credential:
            raise ValueError(f"{what} {name!r} must be locker/credential, e.g. 'demo/erp'")
        return locker, credential
    locker = default_locker or os.environ.get("SECRETBROKER_LOCKER")
    if not locker:
        raise ValueError(
            f"{what} {name!r} names no locker: write 'locker/{name}', or set SECRETBROKER_LOCKER to the locker that holds {name!r}"
        )
    return locker, name


def get_credential(label: str, key: str, *, credential: Optional[str] = None) -> Union[str, bytes]:
    """Returns the value of attribute ``key`` of a credential, as BotCity's
    ``maestro.get_credential(label, key)`` does.

    ``label`` is "locker/credential"; a label without "/" is a credential in
    the locker $SECRETBROKER_LOCKER. With ``credential=`` given, ``label`` is
    the locker itself. The Control Room user is $SECRETBROKER_USERNAME (unset:
    the locker's system credential). Errors are
    :class:`~secretbroker.SecretBrokerError` (a missing credential or key is
    :class:`~secretbroker.NotFound`, also a KeyError).
    """
    if not isinstance(key, str) or not key:
        raise ValueError("key must be the non-empty name of an attribute, such as 'password'")
    if credential is not None:
        if not isinstance(label, str) or not label:
            raise ValueError("label must be the locker name when credential= is given")
        locker = label
    else:
        locker, credential = split_name(label, what="label")
    username = os.environ.get("SECRETBROKER_USERNAME") or None
    with Client() as client:
        return client.get_credential(locker, credential, username=username, attribute=key)
