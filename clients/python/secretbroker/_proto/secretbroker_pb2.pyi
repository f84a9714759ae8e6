from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor
SCOPE_AUTO_LOGIN: Scope
SCOPE_SYSTEM: Scope
SCOPE_UNSPECIFIED: Scope
SCOPE_USER: Scope

class Candidate(_message.Message):
    __slots__ = ["mapped", "scope", "source"]
    MAPPED_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    mapped: bool
    scope: Scope
    source: Source
    def __init__(self, scope: _Optional[_Union[Scope, str]] = ..., source: _Optional[_Union[Source, _Mapping]] = ..., mapped: bool = ...) -> None: ...

class CheckCredentialsRequest(_message.Message):
    __slots__ = ["auto_login", "bypass_cache", "credential", "locker", "username"]
    AUTO_LOGIN_FIELD_NUMBER: _ClassVar[int]
    BYPASS_CACHE_FIELD_NUMBER: _ClassVar[int]
    CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    LOCKER_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    auto_login: bool
    bypass_cache: bool
    credential: str
    locker: str
    username: str
    def __init__(self, auto_login: bool = ..., locker: _Optional[str] = ..., credential: _Optional[str] = ..., username: _Optional[str] = ..., bypass_cache: bool = ...) -> None: ...

class CheckCredentialsResponse(_message.Message):
    __slots__ = ["presence"]
    PRESENCE_FIELD_NUMBER: _ClassVar[int]
    presence: _containers.RepeatedCompositeFieldContainer[Presence]
    def __init__(self, presence: _Optional[_Iterable[_Union[Presence, _Mapping]]] = ...) -> None: ...

class Credential(_message.Message):
    __slots__ = ["attributes", "binary_attributes", "updated_at", "version"]
    class AttributesEntry(_message.Message):
        __slots__ = ["key", "value"]
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class BinaryAttributesEntry(_message.Message):
        __slots__ = ["key", "value"]
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: bytes
        def __init__(self, key: _Optional[str] = ..., value: _Optional[bytes] = ...) -> None: ...
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    BINARY_ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    attributes: _containers.ScalarMap[str, str]
    binary_attributes: _containers.ScalarMap[str, bytes]
    updated_at: _timestamp_pb2.Timestamp
    version: str
    def __init__(self, attributes: _Optional[_Mapping[str, str]] = ..., binary_attributes: _Optional[_Mapping[str, bytes]] = ..., version: _Optional[str] = ..., updated_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class DeleteCredentialRequest(_message.Message):
    __slots__ = ["auto_login", "credential", "locker", "username"]
    AUTO_LOGIN_FIELD_NUMBER: _ClassVar[int]
    CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    LOCKER_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    auto_login: bool
    credential: str
    locker: str
    username: str
    def __init__(self, auto_login: bool = ..., locker: _Optional[str] = ..., credential: _Optional[str] = ..., username: _Optional[str] = ...) -> None: ...

class DeleteCredentialResponse(_message.Message):
    __slots__ = ["scope", "source"]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    scope: Scope
    source: Source
    def __init__(self, source: _Optional[_Union[Source, _Mapping]] = ..., scope: _Optional[_Union[Scope, str]] = ...) -> None: ...

class GetAutoLoginCredentialRequest(_message.Message):
    __slots__ = ["bypass_cache", "username"]
    BYPASS_CACHE_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    bypass_cache: bool
    username: str
    def __init__(self, username: _Optional[str] = ..., bypass_cache: bool = ...) -> None: ...

class GetAutoLoginCredentialResponse(_message.Message):
    __slots__ = ["credential", "login_name", "source", "stale"]
    CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    LOGIN_NAME_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    STALE_FIELD_NUMBER: _ClassVar[int]
    credential: Credential
    login_name: str
    source: Source
    stale: bool
    def __init__(self, credential: _Optional[_Union[Credential, _Mapping]] = ..., source: _Optional[_Union[Source, _Mapping]] = ..., login_name: _Optional[str] = ..., stale: bool = ...) -> None: ...

class GetCredentialRequest(_message.Message):
    __slots__ = ["attributes", "bypass_cache", "credential", "locker", "username"]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    BYPASS_CACHE_FIELD_NUMBER: _ClassVar[int]
    CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    LOCKER_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    attributes: _containers.RepeatedScalarFieldContainer[str]
    bypass_cache: bool
    credential: str
    locker: str
    username: str
    def __init__(self, locker: _Optional[str] = ..., credential: _Optional[str] = ..., username: _Optional[str] = ..., attributes: _Optional[_Iterable[str]] = ..., bypass_cache: bool = ...) -> None: ...

class GetCredentialResponse(_message.Message):
    __slots__ = ["credential", "login_name", "scope", "source", "stale"]
    CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    LOGIN_NAME_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    STALE_FIELD_NUMBER: _ClassVar[int]
    credential: Credential
    login_name: str
    scope: Scope
    source: Source
    stale: bool
    def __init__(self, credential: _Optional[_Union[Credential, _Mapping]] = ..., source: _Optional[_Union[Source, _Mapping]] = ..., scope: _Optional[_Union[Scope, str]] = ..., login_name: _Optional[str] = ..., stale: bool = ...) -> None: ...

class InvalidateCacheRequest(_message.Message):
    __slots__ = ["all", "auto_login", "credential", "locker", "username"]
    ALL_FIELD_NUMBER: _ClassVar[int]
    AUTO_LOGIN_FIELD_NUMBER: _ClassVar[int]
    CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    LOCKER_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    all: bool
    auto_login: bool
    credential: str
    locker: str
    username: str
    def __init__(self, all: bool = ..., auto_login: bool = ..., locker: _Optional[str] = ..., credential: _Optional[str] = ..., username: _Optional[str] = ...) -> None: ...

class InvalidateCacheResponse(_message.Message):
    __slots__ = ["dropped"]
    DROPPED_FIELD_NUMBER: _ClassVar[int]
    dropped: int
    def __init__(self, dropped: _Optional[int] = ...) -> None: ...

class ListLockersRequest(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class ListLockersResponse(_message.Message):
    __slots__ = ["lockers"]
    LOCKERS_FIELD_NUMBER: _ClassVar[int]
    lockers: _containers.RepeatedCompositeFieldContainer[Locker]
    def __init__(self, lockers: _Optional[_Iterable[_Union[Locker, _Mapping]]] = ...) -> None: ...

class Locker(_message.Message):
    __slots__ = ["name", "places", "prefix", "provider", "provider_kind", "safe", "writable"]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PLACES_FIELD_NUMBER: _ClassVar[int]
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_KIND_FIELD_NUMBER: _ClassVar[int]
    SAFE_FIELD_NUMBER: _ClassVar[int]
    WRITABLE_FIELD_NUMBER: _ClassVar[int]
    name: str
    places: _containers.RepeatedCompositeFieldContainer[Place]
    prefix: str
    provider: str
    provider_kind: str
    safe: str
    writable: bool
    def __init__(self, name: _Optional[str] = ..., provider: _Optional[str] = ..., provider_kind: _Optional[str] = ..., prefix: _Optional[str] = ..., safe: _Optional[str] = ..., writable: bool = ..., places: _Optional[_Iterable[_Union[Place, _Mapping]]] = ...) -> None: ...

class Place(_message.Message):
    __slots__ = ["prefix", "provider", "provider_kind", "safe"]
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_KIND_FIELD_NUMBER: _ClassVar[int]
    SAFE_FIELD_NUMBER: _ClassVar[int]
    prefix: str
    provider: str
    provider_kind: str
    safe: str
    def __init__(self, provider: _Optional[str] = ..., provider_kind: _Optional[str] = ..., prefix: _Optional[str] = ..., safe: _Optional[str] = ...) -> None: ...

class Presence(_message.Message):
    __slots__ = ["candidate", "code", "exists", "reason"]
    CANDIDATE_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    EXISTS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    candidate: Candidate
    code: str
    exists: bool
    reason: str
    def __init__(self, candidate: _Optional[_Union[Candidate, _Mapping]] = ..., exists: bool = ..., code: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class PutCredentialRequest(_message.Message):
    __slots__ = ["attributes", "auto_login", "binary_attributes", "credential", "locker", "username"]
    class AttributesEntry(_message.Message):
        __slots__ = ["key", "value"]
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class BinaryAttributesEntry(_message.Message):
        __slots__ = ["key", "value"]
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: bytes
        def __init__(self, key: _Optional[str] = ..., value: _Optional[bytes] = ...) -> None: ...
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    AUTO_LOGIN_FIELD_NUMBER: _ClassVar[int]
    BINARY_ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    LOCKER_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    attributes: _containers.ScalarMap[str, str]
    auto_login: bool
    binary_attributes: _containers.ScalarMap[str, bytes]
    credential: str
    locker: str
    username: str
    def __init__(self, auto_login: bool = ..., locker: _Optional[str] = ..., credential: _Optional[str] = ..., username: _Optional[str] = ..., attributes: _Optional[_Mapping[str, str]] = ..., binary_attributes: _Optional[_Mapping[str, bytes]] = ...) -> None: ...

class PutCredentialResponse(_message.Message):
    __slots__ = ["scope", "source", "version"]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    scope: Scope
    source: Source
    version: str
    def __init__(self, source: _Optional[_Union[Source, _Mapping]] = ..., scope: _Optional[_Union[Scope, str]] = ..., version: _Optional[str] = ...) -> None: ...

class ReloadConfigRequest(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class ReloadConfigResponse(_message.Message):
    __slots__ = ["config", "providers_built", "providers_kept"]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    PROVIDERS_BUILT_FIELD_NUMBER: _ClassVar[int]
    PROVIDERS_KEPT_FIELD_NUMBER: _ClassVar[int]
    config: str
    providers_built: int
    providers_kept: int
    def __init__(self, config: _Optional[str] = ..., providers_kept: _Optional[int] = ..., providers_built: _Optional[int] = ...) -> None: ...

class ResolveNameRequest(_message.Message):
    __slots__ = ["auto_login", "credential", "locker", "username"]
    AUTO_LOGIN_FIELD_NUMBER: _ClassVar[int]
    CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    LOCKER_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    auto_login: bool
    credential: str
    locker: str
    username: str
    def __init__(self, auto_login: bool = ..., locker: _Optional[str] = ..., credential: _Optional[str] = ..., username: _Optional[str] = ...) -> None: ...

class ResolveNameResponse(_message.Message):
    __slots__ = ["candidates"]
    CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    candidates: _containers.RepeatedCompositeFieldContainer[Candidate]
    def __init__(self, candidates: _Optional[_Iterable[_Union[Candidate, _Mapping]]] = ...) -> None: ...

class Source(_message.Message):
    __slots__ = ["location", "locker", "logical_name", "place", "provider", "provider_kind", "secret_name"]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    LOCKER_FIELD_NUMBER: _ClassVar[int]
    LOGICAL_NAME_FIELD_NUMBER: _ClassVar[int]
    PLACE_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_KIND_FIELD_NUMBER: _ClassVar[int]
    SECRET_NAME_FIELD_NUMBER: _ClassVar[int]
    location: str
    locker: str
    logical_name: str
    place: int
    provider: str
    provider_kind: str
    secret_name: str
    def __init__(self, provider: _Optional[str] = ..., provider_kind: _Optional[str] = ..., locker: _Optional[str] = ..., location: _Optional[str] = ..., secret_name: _Optional[str] = ..., logical_name: _Optional[str] = ..., place: _Optional[int] = ...) -> None: ...

class Scope(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []
