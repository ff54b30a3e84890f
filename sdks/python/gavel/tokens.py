"""Access tokens: the JWT a participant joins with, or a backend calls the server API with
(HS256, LiveKit's claim names plus Gavel's grants; docs/protocol.md, "Tokens").

Hand-written rather than a JWT library: HS256 is a few lines of the standard library, and the
SDK keeps to one dependency."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def create_token(
    api_key: str,
    api_secret: str,
    *,
    identity: str,
    room: str | None = None,
    name: str | None = None,
    role: str | None = None,
    room_admin: bool = False,
    ttl_seconds: int = 3600,
    **grants: Any,
) -> str:
    """A signed token for `identity`: a join token for `room`, with Gavel's `role` (`host`,
    `participant`, `viewer`, ...); `room_admin=True` (and no `room`) makes a server-API token
    for every room. Further keyword arguments are added to the `video` grant as given
    (`bypassLock=True`, `bypassWaitingRoom=True`, ...)."""
    now = int(time.time())
    video: dict[str, Any] = dict(grants)
    if room is not None:
        video["room"] = room
        video["roomJoin"] = True
    if room_admin:
        video.update(roomAdmin=True, roomCreate=True, roomList=True)
    claims: dict[str, Any] = {
        "iss": api_key,
        "sub": identity,
        "iat": now,
        "nbf": now,
        "exp": now + ttl_seconds,
        "video": video,
    }
    if name is not None:
        claims["name"] = name
    if role is not None:
        claims["role"] = role
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
    signing = f"{header}.{payload}".encode()
    signature = hmac.new(api_secret.encode(), signing, hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(signature)}"
