"""Errors carrying Gavel's stable error codes (docs/protocol.md, "Errors")."""

from __future__ import annotations

from typing import Any


class GavelError(Exception):
    """A refusal from the server: `code` is stable (`permission_denied`, `not_found`,
    `room_locked`, ...), `message` says why, `status` is the HTTP status when there is one."""

    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status

    @classmethod
    def from_body(cls, body: Any, status: int | None = None) -> GavelError:
        """From a response's `error` object (`{"code", "message"}`)."""
        error = body.get("error", body) if isinstance(body, dict) else {}
        if not isinstance(error, dict):
            error = {}
        return cls(
            str(error.get("code", "internal")),
            str(error.get("message", body)),
            status,
        )
