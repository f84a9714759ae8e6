"""secretbroker: the Python client of the secretbroker daemon, for RPA bots.

::

    from secretbroker import Client

    with Client() as sb:
        cred = sb.get_credential("demo", "erp", username="ABCD\\\\user123")
        print(cred)                      # Credential(keys=['password', 'username'], ...): values masked
        login(cred.username, cred.password)

Drop-ins: :func:`get_credential` (BotCity's ``get_credential(label, key)``)
and :class:`secretbroker.robocorp.SecretBrokerSecretManager` (a custom secret
manager for rpaframework's ``RPA.Robocorp.Vault`` and ``robocorp-vault``).
"""

from ._version import __version__
from .botcity import get_credential
from .client import DEFAULT_ADDRESS, Client, default_data_dir
from .credential import Credential, Locker, Place, Source, WriteResult
from .errors import (
    DeadlineExceeded,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    SecretBrokerError,
    Unauthenticated,
    Unavailable,
)

__all__ = [
    "__version__",
    "Client",
    "DEFAULT_ADDRESS",
    "default_data_dir",
    "get_credential",
    "Credential",
    "Locker",
    "Place",
    "Source",
    "WriteResult",
    "SecretBrokerError",
    "NotFound",
    "PermissionDenied",
    "Unauthenticated",
    "Unavailable",
    "DeadlineExceeded",
    "InvalidArgument",
    "ResourceExhausted",
    "FailedPrecondition",
]
