"""A custom secret manager for Robocorp's vault libraries, backed by
secretbroker.

rpaframework's ``RPA.Robocorp.Vault`` and ``robocorp-vault``
(``robocorp.vault``) load a custom secret manager named by its dotted path in
an environment variable, and call its ``get_secret(secret_name)`` and
``set_secret(secret)``::

    RPA_SECRET_MANAGER=secretbroker.robocorp.SecretBrokerSecretManager
    # robocorp-vault also reads RC_VAULT_SECRET_MANAGER (same value)
    SECRETBROKER_LOCKER=demo            # optional: the locker of bare names
    SECRETBROKER_USERNAME='ABCD\\bot1'  # optional: the Control Room user

Then ``Vault().get_secret("demo/erp")`` (Robot Framework: ``Get Secret
demo/erp``) returns the credential ``erp`` of locker ``demo`` as a mapping
(``secret["password"]``), and ``set_secret(secret)`` stores it back.

Secret names: "locker/credential", or "credential" in the locker
$SECRETBROKER_LOCKER. With $SECRETBROKER_USERNAME set, get_secret returns
that user's user-defined credential when it exists, else the locker's system
credential; set_secret writes back to where the secret was read from (a
secret that was not read through this manager goes to the system
credential). The connection is a :class:`~secretbroker.Client` configured
from the environment (SECRETBROKER_ADDR, SECRETBROKER_TOKEN, ...).

Both libraries require the class to be a subclass of their
``BaseSecretManager``; this module does not depend on them, and registers
:class:`SecretBrokerSecretManager` as a virtual subclass of every
``BaseSecretManager`` it can import.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping, MutableMapping
from typing import Any, Dict, Iterator, Optional

from .botcity import split_name
from .client import Client

__all__ = ["Secret", "SecretBrokerSecretManager"]


class Secret(MutableMapping):
    """A secret as the Robocorp vault libraries use it: ``name``,
    ``description`` and a mapping of keys to values (``secret["password"]``,
    ``secret["username"] = "nobody"``, ``update()``).

    Its ``repr()`` shows the name and the keys only, never a value, as the
    libraries' own ``Secret`` and ``SecretContainer`` do.
    """

    def __init__(self, name: str, description: str, values: Mapping[str, Any]) -> None:
        self._name = name
        self._desc = description
        self._dict: Dict[str, Any] = {str(k): v for k, v in values.items()}
        # Where it was read from, so set_secret writes it back there.
        self._username: Optional[str] = None

    @property
    def name(self) -> str:
        """The secret's name: "locker/credential" or "credential"."""
        return self._name

    @property
    def description(self) -> str:
        """Where the secret was read from (names only)."""
        return self._desc

    def __getitem__(self, key: str) -> Any:
        return self._dict[str(key)]

    def __setitem__(self, key: str, value: Any) -> None:
        self._dict[str(key)] = value

    def __delitem__(self, key: str) -> None:
        del self._dict[str(key)]

    def __contains__(self, key: object) -> bool:
        return str(key) in self._dict

    def __iter__(self) -> Iterator[str]:
        return iter(self._dict)

    def __len__(self) -> int:
        return len(self._dict)

    def __repr__(self) -> str:
        return "Secret(name={name}, keys=[{keys}])".format(name=self.name, keys=", ".join(str(k) for k in self.keys()))

    __str__ = __repr__


class SecretBrokerSecretManager:
    """A secret manager for ``RPA.Robocorp.Vault`` and ``robocorp.vault``
    (select it with ``RPA_SECRET_MANAGER=secretbroker.robocorp.SecretBrokerSecretManager``).

    Keyword arguments (from the library's arguments, all optional):
    ``locker`` (default $SECRETBROKER_LOCKER) for names without "/",
    ``username`` (default $SECRETBROKER_USERNAME), ``client`` (a
    :class:`~secretbroker.Client` to use instead of one configured from the
    environment), and any :class:`~secretbroker.Client` keyword argument
    (``address``, ``token_file``, ``ca``, ...).
    """

    def __init__(
        self,
        *args: Any,
        locker: Optional[str] = None,
        username: Optional[str] = None,
        client: Optional[Client] = None,
        **client_options: Any,
    ) -> None:
        if args:
            raise TypeError(
                "SecretBrokerSecretManager takes keyword arguments only (locker=, username=, client= "
                "or Client options such as address=); configure it with SECRETBROKER_* environment variables"
            )
        if client is not None and client_options:
            raise TypeError("give either client= or Client options, not both")
        self._locker = locker or os.environ.get("SECRETBROKER_LOCKER") or None
        self._username = username if username is not None else (os.environ.get("SECRETBROKER_USERNAME") or None)
        self._owns_client = client is None
        self._client = client if client is not None else Client(**client_options)

    def _split(self, secret_name: str):
        return split_name(secret_name, default_locker=self._locker, what="secret name")

    def get_secret(self, secret_name: str) -> Secret:
        """Returns the credential named ``secret_name`` ("locker/credential"
        or "credential" in the default locker) as a :class:`Secret`.

        A missing credential raises :class:`~secretbroker.NotFound`, which is
        also a KeyError (as the libraries' FileSecrets raise).
        """
        locker, credential = self._split(secret_name)
        cred = self._client.get_credential(locker, credential, username=self._username)
        src = cred.source
        desc = f"secretbroker {src.scope} credential {src.secret_name} from provider {src.provider}".strip()
        secret = Secret(secret_name, desc, cred)
        if src.scope == "user":
            secret._username = self._username
        return secret

    def set_secret(self, secret: Mapping) -> None:
        """Stores ``secret`` (its name and all its key-value pairs, which
        replace the stored ones) where it was read from: the user-defined
        credential if it was read as one, else the system credential."""
        name = getattr(secret, "name", None)
        if not isinstance(name, str):
            raise TypeError("set_secret needs a secret with a name, as get_secret returns")
        locker, credential = self._split(name)
        username = getattr(secret, "_username", None) if isinstance(secret, Secret) else None
        values = {str(k): (v if isinstance(v, (str, bytes)) else str(v)) for k, v in secret.items()}
        self._client.put_credential(locker, credential, values, username=username)

    def close(self) -> None:
        """Closes the connection, if this manager opened it."""
        if self._owns_client:
            self._client.close()


def _register_with_vault_libraries() -> None:
    """Registers SecretBrokerSecretManager as a virtual subclass of the
    BaseSecretManager of each Robocorp vault library that is installed, so
    their ``issubclass(adapter, BaseSecretManager)`` check accepts it."""
    for module_name in ("RPA.Robocorp.Vault", "robocorp.vault._adapters", "robocorp.vault._vault"):
        try:
            module = importlib.import_module(module_name)
        except Exception:  # not installed, or fails to import: nothing to register with
            continue
        base = getattr(module, "BaseSecretManager", None)
        register = getattr(base, "register", None)
        if callable(register):
            register(SecretBrokerSecretManager)


_register_with_vault_libraries()
