"""The secretbroker gRPC client.

Example::

    from secretbroker import Client

    with Client() as sb:  # SECRETBROKER_ADDR or 127.0.0.1:7787, token from the environment
        cred = sb.get_credential("demo", "erp", username="ABCD\\\\user123")
        login(cred.username, cred.password)
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
import os
import re
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import List, Optional, Tuple, Union

import grpc

from . import errors
from ._proto import secretbroker_pb2 as pb
from ._proto import secretbroker_pb2_grpc as pb_grpc
from ._version import __version__
from .credential import Credential, Locker, Place, Source, WriteResult, scope_name

__all__ = ["Client", "DEFAULT_ADDRESS", "default_data_dir"]

#: The broker's default address (the daemon's default server.listen).
DEFAULT_ADDRESS = "127.0.0.1:7787"

#: Metadata key for the caller's stated purpose (free text, percent-encoded);
#: the broker records it in its audit log as a label, never as an identity.
PURPOSE_HEADER = "x-secretbroker-purpose"

_TOKEN_RE = re.compile(r"^[\x21-\x7e]+$")

PathLike = Union[str, "os.PathLike[str]"]


def default_data_dir() -> Path:
    """Returns the daemon's data directory as the daemon computes it:
    $SECRETBROKER_DATA_DIR, else $XDG_STATE_HOME/secretbroker, else
    ~/.local/state/secretbroker. The local admin token is admin.token in it.
    """
    explicit = os.environ.get("SECRETBROKER_DATA_DIR")
    if explicit:
        return Path(explicit)
    state = os.environ.get("XDG_STATE_HOME")
    if state:
        return Path(state) / "secretbroker"
    return Path.home() / ".local" / "state" / "secretbroker"


def _read_token_file(path: PathLike, origin: str) -> str:
    # Errors name the file, never its content.
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise ValueError(f"reading the token from {origin} ({os.fspath(path)}): {err.strerror or err}") from None
    except UnicodeDecodeError:
        raise ValueError(f"the token file {os.fspath(path)} ({origin}) is not UTF-8 text") from None
    token = text.strip()
    if not token:
        raise ValueError(f"the token file {os.fspath(path)} ({origin}) is empty")
    return token


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Target:
    """A parsed address: the gRPC target string, and what the security
    checks need to know about it."""

    def __init__(self, address: Optional[str], unix_socket: Optional[PathLike]) -> None:
        if address and unix_socket:
            raise ValueError("give either address or unix_socket, not both")
        if unix_socket is not None:
            path = os.fspath(unix_socket)
            if not path:
                raise ValueError("unix_socket is empty")
            self._set_unix(path)
            return
        if not address:
            address = os.environ.get("SECRETBROKER_ADDR") or DEFAULT_ADDRESS
        if not isinstance(address, str):
            raise TypeError(f"address must be a str such as {DEFAULT_ADDRESS!r}, not {type(address).__name__}")
        if address.startswith("unix:"):
            rest = address[len("unix:") :]
            if rest.startswith("//"):
                rest = rest[2:]
            if not rest:
                raise ValueError("the unix socket path is empty (write unix:/run/secretbroker/secretbroker.sock)")
            self._set_unix(rest)
            return
        host, sep, port = address.rpartition(":")
        if not sep or not host or not port.isdigit() or "/" in address:
            raise ValueError(f"address {address!r} is not host:port or unix:/path (write e.g. {DEFAULT_ADDRESS})")
        bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
        self.unix = False
        self.host = bare
        self.loopback = _is_loopback(bare)
        self.grpc_target = address
        self.display = address

    def _set_unix(self, path: str) -> None:
        self.unix = True
        self.host = ""
        self.loopback = True
        self.grpc_target = "unix:" + path
        self.display = "unix:" + path


class Client:
    """A connection to a secretbroker daemon.

    ``address`` is "host:port" or "unix:/path" (default: $SECRETBROKER_ADDR,
    else 127.0.0.1:7787); ``unix_socket`` a socket path instead.

    The bearer token is, in this order: ``token``; the file ``token_file``;
    $SECRETBROKER_TOKEN; the file $SECRETBROKER_TOKEN_FILE; for a loopback or
    unix address only, the daemon's local admin token (admin.token in
    :func:`default_data_dir`) when it exists. ``token=""`` sends no token and
    looks for none (a unix socket authenticates the peer's uid). The token
    travels as ``authorization: Bearer <token>``; it is never sent in
    plaintext to an address that is not loopback (ValueError).

    TLS is on when ``ca``, ``cert`` or ``key`` is given (file paths; ``ca``
    defaults to the system roots); ``cert`` and ``key`` together give mTLS.
    ``server_name`` overrides the name checked in the server's certificate.
    ``purpose`` is sent as ``x-secretbroker-purpose`` for the broker's audit.
    ``timeout`` bounds each call, in seconds.

    A Client is safe to share between threads. Use it as a context manager,
    or call :meth:`close`.
    """

    def __init__(
        self,
        address: Optional[str] = None,
        *,
        unix_socket: Optional[PathLike] = None,
        token: Optional[str] = None,
        token_file: Optional[PathLike] = None,
        ca: Optional[PathLike] = None,
        cert: Optional[PathLike] = None,
        key: Optional[PathLike] = None,
        server_name: Optional[str] = None,
        purpose: Optional[str] = None,
        timeout: float = 10.0,
    ) -> None:
        target = _Target(address, unix_socket)
        if timeout is None or not timeout > 0:
            raise ValueError("timeout must be a positive number of seconds")
        if (cert is None) != (key is None):
            raise ValueError("give cert and key together (a client certificate and its private key)")
        use_tls = ca is not None or cert is not None
        if use_tls and target.unix:
            raise ValueError("TLS options (ca, cert, key) apply to TCP addresses; on a unix socket the broker authenticates the peer's uid")
        if server_name is not None and not use_tls:
            raise ValueError("server_name needs TLS (give ca, or cert and key)")
        if purpose is not None and not isinstance(purpose, str):
            raise TypeError("purpose must be a str")
        if token is not None and token_file is not None:
            raise ValueError("give either token or token_file, not both")

        resolved, origin = self._resolve_token(token, token_file, local_admin_ok=target.loopback)
        if resolved is not None:
            if not _TOKEN_RE.match(resolved):
                raise ValueError(f"the token from {origin} has characters a gRPC header cannot carry (spaces, control or non-ASCII characters)")
            if not use_tls and not target.loopback:
                raise ValueError(
                    f"refusing to send the bearer token (from {origin}) in plaintext to {target.display}: "
                    "that address is not loopback; use TLS (ca=..., and cert/key for mTLS), "
                    "a loopback address or a unix socket"
                )

        metadata: List[Tuple[str, str]] = []
        if resolved is not None:
            metadata.append(("authorization", "Bearer " + resolved))
        if purpose:
            metadata.append((PURPOSE_HEADER, urllib.parse.quote(purpose, safe="")))
        self._metadata = tuple(metadata)
        self._timeout = float(timeout)
        self._target = target
        self._token_origin = origin

        options = [("grpc.primary_user_agent", f"secretbroker-python/{__version__}")]
        if target.loopback:
            # A loopback or unix address never goes through an HTTP proxy
            # named in the environment.
            options.append(("grpc.enable_http_proxy", 0))
        if use_tls:
            creds = grpc.ssl_channel_credentials(
                root_certificates=self._read_pem(ca, "ca"),
                private_key=self._read_pem(key, "key"),
                certificate_chain=self._read_pem(cert, "cert"),
            )
            if server_name:
                options.append(("grpc.ssl_target_name_override", server_name))
                options.append(("grpc.default_authority", server_name))
            self._channel = grpc.secure_channel(target.grpc_target, creds, options=options)
        else:
            self._channel = grpc.insecure_channel(target.grpc_target, options=options)
        self._stub = pb_grpc.SecretBrokerStub(self._channel)
        self._closed = False

    @staticmethod
    def _resolve_token(token, token_file, *, local_admin_ok: bool) -> Tuple[Optional[str], str]:
        if token is not None:
            if not isinstance(token, str):
                raise TypeError("token must be a str")
            return (token or None), "the token argument"
        if token_file is not None:
            return _read_token_file(token_file, "token_file"), "token_file"
        env = os.environ.get("SECRETBROKER_TOKEN", "").strip()
        if env:
            return env, "SECRETBROKER_TOKEN"
        env_file = os.environ.get("SECRETBROKER_TOKEN_FILE", "").strip()
        if env_file:
            return _read_token_file(env_file, "SECRETBROKER_TOKEN_FILE"), "SECRETBROKER_TOKEN_FILE"
        if local_admin_ok:
            path = default_data_dir() / "admin.token"
            if path.is_file() and os.access(path, os.R_OK):
                return _read_token_file(path, "the local admin token"), f"the local admin token {path}"
        return None, "nowhere"

    @staticmethod
    def _read_pem(path: Optional[PathLike], what: str) -> Optional[bytes]:
        if path is None:
            return None
        try:
            return Path(path).read_bytes()
        except OSError as err:
            raise ValueError(f"reading {what} {os.fspath(path)}: {err.strerror or err}") from None

    # -- lifecycle -----------------------------------------------------------

    @property
    def target(self) -> str:
        """The address this client talks to ("host:port" or "unix:/path")."""
        return self._target.display

    @property
    def token_origin(self) -> str:
        """Where the token came from ("SECRETBROKER_TOKEN", a file, ...), or
        "nowhere"; never the token."""
        return self._token_origin

    def close(self) -> None:
        """Closes the connection. Calls after close raise ValueError."""
        if not self._closed:
            self._closed = True
            self._channel.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client(target={self._target.display!r}, token from {self._token_origin})"

    def _call(self, method, request):
        if self._closed:
            raise ValueError("the secretbroker Client is closed")
        try:
            return method(request, timeout=self._timeout, metadata=self._metadata)
        except grpc.RpcError as err:
            raise errors.from_rpc_error(err) from None

    # -- reads ---------------------------------------------------------------

    def get_credential(
        self,
        locker: str,
        credential: str,
        username: Optional[str] = None,
        attribute: Optional[str] = None,
        fresh: bool = False,
    ) -> Union[Credential, str, bytes]:
        """Returns a credential of a locker: the user-defined one of
        ``username`` when it exists, else the locker's system credential.

        With ``attribute``, returns that attribute's value alone (``str``, or
        ``bytes`` for a value that is not UTF-8); a credential without it is
        :class:`~secretbroker.NotFound`. ``fresh=True`` asks the broker to read
        the vault itself, past its cache (after a login failed with a rotated
        password).
        """
        _need_str(locker=locker, credential=credential)
        req = pb.GetCredentialRequest(locker=locker, credential=credential, username=_opt_str(username, "username"), bypass_cache=bool(fresh))
        if attribute is not None:
            _need_str(attribute=attribute)
            req.attributes.append(attribute)
        resp = self._call(self._stub.GetCredential, req)
        cred = _credential(resp.credential, resp.source, resp.scope, resp.login_name, resp.stale)
        if attribute is not None:
            return cred[attribute]
        return cred

    def get_autologin(self, username: str, fresh: bool = False) -> Credential:
        """Returns the auto-login (Windows login) credential of a Control Room
        user; ``login_name`` is the name to log in with."""
        _need_str(username=username)
        resp = self._call(self._stub.GetAutoLoginCredential, pb.GetAutoLoginCredentialRequest(username=username, bypass_cache=bool(fresh)))
        return _credential(resp.credential, resp.source, pb.SCOPE_AUTO_LOGIN, resp.login_name, resp.stale)

    def list_lockers(self) -> List[Locker]:
        """Returns the lockers the caller may use (no secrets)."""
        resp = self._call(self._stub.ListLockers, pb.ListLockersRequest())
        return [
            Locker(
                name=lk.name,
                provider=lk.provider,
                provider_kind=lk.provider_kind,
                prefix=lk.prefix,
                safe=lk.safe,
                writable=lk.writable,
                places=tuple(Place(provider=p.provider, provider_kind=p.provider_kind, prefix=p.prefix, safe=p.safe) for p in lk.places),
            )
            for lk in resp.lockers
        ]

    # -- writes --------------------------------------------------------------

    def put_credential(
        self,
        locker: str,
        credential: str,
        attributes: Mapping[str, Union[str, bytes]],
        username: Optional[str] = None,
    ) -> WriteResult:
        """Stores a credential in the locker's (writable) provider, replacing
        all its attributes: the user-defined one of ``username``, or the
        system one when username is None. ``bytes`` values that are not UTF-8
        travel as binary attributes."""
        _need_str(locker=locker, credential=credential)
        req = pb.PutCredentialRequest(locker=locker, credential=credential, username=_opt_str(username, "username"))
        _fill_attributes(req, attributes)
        resp = self._call(self._stub.PutCredential, req)
        return WriteResult(source=_source(resp.source, resp.scope), scope=scope_name(resp.scope), version=resp.version)

    def put_autologin(self, username: str, attributes: Mapping[str, Union[str, bytes]]) -> WriteResult:
        """Stores the auto-login credential of a Control Room user."""
        _need_str(username=username)
        req = pb.PutCredentialRequest(auto_login=True, username=username)
        _fill_attributes(req, attributes)
        resp = self._call(self._stub.PutCredential, req)
        return WriteResult(source=_source(resp.source, resp.scope), scope=scope_name(resp.scope), version=resp.version)

    def delete_credential(self, locker: str, credential: str, username: Optional[str] = None) -> WriteResult:
        """Deletes a credential (the user-defined one of ``username``, or the
        system one) from the locker's writable provider."""
        _need_str(locker=locker, credential=credential)
        req = pb.DeleteCredentialRequest(locker=locker, credential=credential, username=_opt_str(username, "username"))
        resp = self._call(self._stub.DeleteCredential, req)
        return WriteResult(source=_source(resp.source, resp.scope), scope=scope_name(resp.scope))

    def delete_autologin(self, username: str) -> WriteResult:
        """Deletes the auto-login credential of a Control Room user."""
        _need_str(username=username)
        resp = self._call(self._stub.DeleteCredential, pb.DeleteCredentialRequest(auto_login=True, username=username))
        return WriteResult(source=_source(resp.source, resp.scope), scope=scope_name(resp.scope))


def _need_str(**named) -> None:
    for name, value in named.items():
        if not isinstance(value, str):
            raise TypeError(f"{name} must be a str, not {type(value).__name__}")
        if not value:
            raise ValueError(f"{name} is empty")


def _opt_str(value: Optional[str], name: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str or None, not {type(value).__name__}")
    return value


def _fill_attributes(req, attributes: Mapping[str, Union[str, bytes]]) -> None:
    if not isinstance(attributes, Mapping):
        raise TypeError(f"attributes must be a mapping of name to str or bytes, not {type(attributes).__name__}")
    for name, value in attributes.items():
        if not isinstance(name, str) or not name:
            raise TypeError("attribute names must be non-empty str")
        # Messages name the attribute and the type, never the value.
        if isinstance(value, str):
            req.attributes[name] = value
        elif isinstance(value, (bytes, bytearray)):
            raw = bytes(value)
            try:
                req.attributes[name] = raw.decode("utf-8")
            except UnicodeDecodeError:
                req.binary_attributes[name] = raw
        else:
            raise TypeError(f"attribute {name!r} must be str or bytes, not {type(value).__name__}")


def _source(src, scope: int) -> Source:
    return Source(
        provider=src.provider,
        provider_kind=src.provider_kind,
        locker=src.locker,
        location=src.location,
        secret_name=src.secret_name,
        logical_name=src.logical_name,
        scope=scope_name(scope),
        place=getattr(src, "place", 0),
    )


def _timestamp(msg) -> Optional[_dt.datetime]:
    if not msg.HasField("updated_at"):
        return None
    ts = msg.updated_at
    try:
        return ts.ToDatetime(tzinfo=_dt.timezone.utc)
    except TypeError:  # protobuf before tzinfo= was added
        return _dt.datetime.fromtimestamp(ts.seconds, tz=_dt.timezone.utc) + _dt.timedelta(microseconds=ts.nanos // 1000)


def _credential(msg, src, scope: int, login_name: str, stale: bool) -> Credential:
    values = dict(msg.attributes)
    values.update((k, bytes(v)) for k, v in msg.binary_attributes.items())
    return Credential(
        dict(sorted(values.items())),  # map order on the wire is arbitrary
        source=_source(src, scope),
        login_name=login_name,
        version=msg.version,
        updated_at=_timestamp(msg),
        stale=bool(stale),
    )
