"""Exceptions: one per kind of answer the daemon gives, keeping its gRPC status, its message and,
for a malformed request, the path of the bad field (``"events[2].contribution_received.amount"``).

| exception | gRPC status |
|---|---|
| :class:`FiscusInvalid` | ``INVALID_ARGUMENT`` (``field`` names the bad field) |
| :class:`FiscusRefused` | ``FAILED_PRECONDITION`` (a business rule: overdraft, closed period …) |
| :class:`FiscusNotFound` | ``NOT_FOUND`` |
| :class:`FiscusConflict` | ``ALREADY_EXISTS`` (event id reused with other content), ``ABORTED`` (expected seq) |
| :class:`FiscusPermissionDenied` | ``PERMISSION_DENIED``; subclass :class:`FiscusUnauthenticated`: ``UNAUTHENTICATED`` |
| :class:`FiscusUnavailable` | ``UNAVAILABLE``, ``DEADLINE_EXCEEDED``; subclass :class:`FiscusOverloaded`: ``RESOURCE_EXHAUSTED`` |
| :class:`FiscusDataLoss` | ``DATA_LOSS`` (the server found the project's records damaged) |
| :class:`FiscusError` | anything else (``INTERNAL``, ``UNIMPLEMENTED`` …) |

:class:`VerificationFailed` is raised by :func:`fiscus.verify_project` when a chain does not verify,
its subclass :class:`CheckpointRefused` when a pinned verification refuses the server's checkpoint.
"""

from __future__ import annotations

import importlib
from typing import Any

import grpc

# googleapis-common-protos: its stubs are shadowed by types-protobuf's ``google`` package for mypy,
# so these two modules are used untyped.
status_pb2: Any = importlib.import_module("google.rpc.status_pb2")
error_details_pb2: Any = importlib.import_module("google.rpc.error_details_pb2")

_DETAILS_KEY = "grpc-status-details-bin"


class FiscusError(Exception):
    """Base of every Fiscus error. ``status`` is the gRPC status code (``None`` when not from the
    server), ``message`` the server's sentence, ``field`` the path of a bad request field or ``None``."""

    def __init__(self, message: str, status: grpc.StatusCode | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.field = field

    def __str__(self) -> str:
        code = f"{self.status.name}: " if self.status is not None else ""
        return f"{code}{self.message}"


class FiscusInvalid(FiscusError):
    """The request is malformed (``INVALID_ARGUMENT``); ``field`` names the field when the server did."""


class FiscusRefused(FiscusError):
    """A business rule refused the request (``FAILED_PRECONDITION``); nothing was changed."""


class FiscusNotFound(FiscusError):
    """The project does not exist (``NOT_FOUND``)."""


class FiscusConflict(FiscusError):
    """An event id is recorded with other content or a project id is taken (``ALREADY_EXISTS``), or
    an expected seq did not match the head (``ABORTED``, the message gives the current head)."""


class FiscusPermissionDenied(FiscusError):
    """The token may not make this call on this project (``PERMISSION_DENIED``)."""


class FiscusUnauthenticated(FiscusPermissionDenied):
    """No token, or a token the server does not know (``UNAUTHENTICATED``)."""


class FiscusUnavailable(FiscusError):
    """The server cannot be reached, is shutting down or refuses writes (``UNAVAILABLE``), or the
    call ran past its deadline (``DEADLINE_EXCEEDED``). Retrying a write with the same event ids is
    safe: it is stored once."""


class FiscusOverloaded(FiscusUnavailable):
    """The server is overloaded or the request is too large (``RESOURCE_EXHAUSTED``)."""


class FiscusDataLoss(FiscusError):
    """The server's own verification found the project's records damaged (``DATA_LOSS``)."""


class VerificationFailed(FiscusError):
    """A chain did not verify: ``project``, the first bad ``seq`` and the ``problem`` found."""

    def __init__(self, project: str, seq: int, problem: str) -> None:
        super().__init__(f"project {project} seq {seq}: {problem}")
        self.project = project
        self.seq = seq
        self.problem = problem


class CheckpointRefused(VerificationFailed):
    """A pinned verification refused the server's checkpoint (``seq`` 0): not signed by the pinned
    key, older than the one kept in the state file, another root for the same size, or without a
    valid consistency proof from it. ``problem`` says which."""


class CheckpointsUnavailable(FiscusError, NotImplementedError):
    """A pin was given to :func:`fiscus.verify_project`, but the server serves no signed checkpoint
    to check it against (its Audit service has no ``GetCheckpoint``)."""


_BY_CODE: dict[grpc.StatusCode, type[FiscusError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: FiscusInvalid,
    grpc.StatusCode.FAILED_PRECONDITION: FiscusRefused,
    grpc.StatusCode.NOT_FOUND: FiscusNotFound,
    grpc.StatusCode.ALREADY_EXISTS: FiscusConflict,
    grpc.StatusCode.ABORTED: FiscusConflict,
    grpc.StatusCode.PERMISSION_DENIED: FiscusPermissionDenied,
    grpc.StatusCode.UNAUTHENTICATED: FiscusUnauthenticated,
    grpc.StatusCode.UNAVAILABLE: FiscusUnavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: FiscusUnavailable,
    grpc.StatusCode.RESOURCE_EXHAUSTED: FiscusOverloaded,
    grpc.StatusCode.DATA_LOSS: FiscusDataLoss,
}


def bad_request_field(trailing: object) -> str | None:
    """The first field path of a ``google.rpc.BadRequest`` detail in a call's trailing metadata."""
    if not trailing:
        return None
    for entry in trailing:  # type: ignore[attr-defined]
        key, value = entry[0], entry[1]
        if key != _DETAILS_KEY or not isinstance(value, bytes):
            continue
        status = status_pb2.Status()
        try:
            status.ParseFromString(value)
        except Exception:  # noqa: BLE001 - a malformed detail is no field, not a crash
            return None
        for detail in status.details:
            bad = error_details_pb2.BadRequest()
            if detail.Is(bad.DESCRIPTOR) and detail.Unpack(bad):
                for violation in bad.field_violations:
                    return str(violation.field)
    return None


def from_status(code: grpc.StatusCode, message: str, trailing: object) -> FiscusError:
    """The exception for a gRPC status, its message and its trailing metadata."""
    cls = _BY_CODE.get(code, FiscusError)
    return cls(message, code, bad_request_field(trailing) if code == grpc.StatusCode.INVALID_ARGUMENT else None)


def from_rpc_error(err: grpc.RpcError) -> FiscusError:
    """The exception for a failed call (a :class:`grpc.Call` or :class:`grpc.aio.AioRpcError`)."""
    code = err.code() if hasattr(err, "code") else grpc.StatusCode.UNKNOWN
    details = err.details() if hasattr(err, "details") else str(err)
    trailing = err.trailing_metadata() if hasattr(err, "trailing_metadata") else None
    return from_status(code, details or "", trailing)
