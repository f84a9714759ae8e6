"""Errors raised by the secretbroker client.

Every error the broker returns becomes a :class:`SecretBrokerError` (or one
of its subclasses, chosen by the gRPC status code). Its ``message`` is the
broker's caller-safe message: it names secrets, providers and users, never a
secret value, and the client adds none.
"""

from __future__ import annotations

import grpc

__all__ = [
    "SecretBrokerError",
    "NotFound",
    "PermissionDenied",
    "Unauthenticated",
    "Unavailable",
    "DeadlineExceeded",
    "InvalidArgument",
    "ResourceExhausted",
    "FailedPrecondition",
    "from_rpc_error",
]


class SecretBrokerError(Exception):
    """An error returned by the broker (or by gRPC on the way to it).

    ``code`` is the :class:`grpc.StatusCode`, ``message`` the broker's
    message. ``str()`` is ``"NotFound: <message>"``.
    """

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message

    @property
    def code_name(self) -> str:
        """The status code in the broker's spelling, e.g. ``NotFound``."""
        return "".join(part.capitalize() for part in self.code.name.split("_"))

    def __str__(self) -> str:
        return f"{self.code_name}: {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


class NotFound(SecretBrokerError, KeyError):
    """No such secret (the message names every secret tried), or no such
    attribute in it. Also a :class:`KeyError`, as a missing secret is in the
    Robocorp and BotCity libraries."""


class PermissionDenied(SecretBrokerError):
    """The broker's policy, or the vault, refused the request."""


class Unauthenticated(SecretBrokerError):
    """The broker did not accept the caller's token or certificate."""


class Unavailable(SecretBrokerError):
    """The broker or the vault behind it cannot be reached, is sealed or
    throttling; retrying later may work."""


class DeadlineExceeded(Unavailable):
    """The request took longer than its timeout."""


class InvalidArgument(SecretBrokerError):
    """A bad request: an empty or malformed username, or a name the vault
    cannot hold (the message names the rule)."""


class ResourceExhausted(SecretBrokerError):
    """The caller is over its rate limit, or the broker over its capacity."""


class FailedPrecondition(SecretBrokerError):
    """Unknown locker, provider not writable, several CyberArk objects
    matched, or a secret lacking a field of the username template."""


_BY_CODE = {
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhausted,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
}


def from_rpc_error(err: grpc.RpcError) -> SecretBrokerError:
    """Returns the SecretBrokerError for a failed gRPC call."""
    code = err.code() if hasattr(err, "code") else None
    if not isinstance(code, grpc.StatusCode):
        code = grpc.StatusCode.UNKNOWN
    message = err.details() if hasattr(err, "details") else None
    if not message:
        message = "the broker returned no message"
    return _BY_CODE.get(code, SecretBrokerError)(code, message)
