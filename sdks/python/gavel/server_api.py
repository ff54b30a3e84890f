"""Gavel's server API (docs/protocol.md, "Server API") for a backend: rooms, participants,
moderation, the audit log and sessions, bans, the waiting room, breakout rooms and webhooks.
Async like the rest of the SDK; each call runs the standard library's HTTP client in a thread
(the SDK keeps to one dependency). A refusal raises `GavelError` with the server's code and the
HTTP status."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote

from .errors import GavelError


class ServerApi:
    """`ServerApi("http://127.0.0.1:7880", token)`, with a token holding `roomAdmin`
    (see `gavel.create_token`)."""

    def __init__(self, url: str, token: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        return await asyncio.to_thread(self._call, method, path, body)

    def _call(self, method: str, path: str, body: Any) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as res:
                raw = res.read()
        except urllib.error.HTTPError as e:
            text = e.read()
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = {"error": {"code": "internal", "message": text.decode(errors="replace")}}
            raise GavelError.from_body(parsed, e.code) from None
        return json.loads(raw) if raw else {}

    # ----- rooms -----
    async def list_rooms(self) -> list[dict[str, Any]]:
        rooms: list[dict[str, Any]] = (await self.call("GET", "/v1/rooms"))["rooms"]
        return rooms

    async def create_room(self, name: str, **settings: Any) -> dict[str, Any]:
        room: dict[str, Any] = (await self.call("POST", "/v1/rooms", {"name": name, **settings}))[
            "room"
        ]
        return room

    async def get_room(self, room: str) -> dict[str, Any]:
        got: dict[str, Any] = (await self.call("GET", f"/v1/rooms/{quote(room)}"))["room"]
        return got

    async def delete_room(self, room: str) -> None:
        await self.call("DELETE", f"/v1/rooms/{quote(room)}")

    async def update_room_metadata(self, room: str, metadata: str) -> None:
        await self.call("PATCH", f"/v1/rooms/{quote(room)}", {"metadata": metadata})

    async def send_data(self, room: str, payload_b64: str, to: list[str] | None = None) -> None:
        body: dict[str, Any] = {"payload": payload_b64}
        if to:
            body["destination_identities"] = to
        await self.call("POST", f"/v1/rooms/{quote(room)}/data", body)

    async def mute_all(self, room: str, source: str, except_ids: list[str] | None = None) -> int:
        body = {"source": source, "except": except_ids or []}
        reply = await self.call("POST", f"/v1/rooms/{quote(room)}/mute-all", body)
        return int(reply.get("changed", 0))

    async def end_session(self, room: str) -> None:
        await self.call("POST", f"/v1/rooms/{quote(room)}/end")

    async def lock(self, room: str, locked: bool = True) -> None:
        await self.call("POST", f"/v1/rooms/{quote(room)}/{'lock' if locked else 'unlock'}")

    # ----- participants -----
    async def list_participants(self, room: str) -> list[dict[str, Any]]:
        got: list[dict[str, Any]] = (
            await self.call("GET", f"/v1/rooms/{quote(room)}/participants")
        )["participants"]
        return got

    async def get_participant(self, room: str, identity: str) -> dict[str, Any]:
        path = f"/v1/rooms/{quote(room)}/participants/{quote(identity)}"
        got: dict[str, Any] = (await self.call("GET", path))["participant"]
        return got

    async def update_participant(self, room: str, identity: str, **fields: Any) -> dict[str, Any]:
        path = f"/v1/rooms/{quote(room)}/participants/{quote(identity)}"
        got: dict[str, Any] = (await self.call("PATCH", path, fields))["participant"]
        return got

    async def mute(self, room: str, identity: str, source: str, muted: bool = True) -> int:
        path = f"/v1/rooms/{quote(room)}/participants/{quote(identity)}/mute"
        reply = await self.call("POST", path, {"source": source, "muted": muted})
        return int(reply.get("changed", 0))

    async def request_media(self, room: str, identity: str, source: str) -> dict[str, Any]:
        path = f"/v1/rooms/{quote(room)}/participants/{quote(identity)}/request-media"
        reply: dict[str, Any] = await self.call("POST", path, {"source": source})
        return reply

    async def remove_participant(
        self, room: str, identity: str, ban_seconds: int | None = None
    ) -> dict[str, Any]:
        path = f"/v1/rooms/{quote(room)}/participants/{quote(identity)}/remove"
        body = {"ban_seconds": ban_seconds} if ban_seconds else {}
        reply: dict[str, Any] = await self.call("POST", path, body)
        return reply

    async def move_participant(self, room: str, identity: str, destination: str) -> None:
        path = f"/v1/rooms/{quote(room)}/participants/{quote(identity)}/move"
        await self.call("POST", path, {"destination": destination})

    async def batch_update(self, room: str, updates: dict[str, Any]) -> dict[str, Any]:
        path = f"/v1/rooms/{quote(room)}/participants:batch"
        results: dict[str, Any] = (await self.call("POST", path, {"updates": updates}))["results"]
        return results

    # ----- history and bans -----
    async def audit(self, room: str, limit: int = 100) -> list[dict[str, Any]]:
        got: list[dict[str, Any]] = (
            await self.call("GET", f"/v1/rooms/{quote(room)}/audit?limit={limit}")
        )["entries"]
        return got

    async def sessions(self, room: str, limit: int = 100) -> list[dict[str, Any]]:
        got: list[dict[str, Any]] = (
            await self.call("GET", f"/v1/rooms/{quote(room)}/sessions?limit={limit}")
        )["sessions"]
        return got

    async def list_bans(self, room: str) -> list[dict[str, Any]]:
        got: list[dict[str, Any]] = (await self.call("GET", f"/v1/rooms/{quote(room)}/bans"))[
            "bans"
        ]
        return got

    async def lift_ban(self, room: str, identity: str) -> None:
        await self.call("DELETE", f"/v1/rooms/{quote(room)}/bans/{quote(identity)}")

    # ----- the waiting room and breakout rooms -----
    async def waiting(self, room: str) -> list[dict[str, Any]]:
        got: list[dict[str, Any]] = (await self.call("GET", f"/v1/rooms/{quote(room)}/waiting"))[
            "waiting"
        ]
        return got

    async def admit(self, room: str, ids: list[str] | None = None) -> dict[str, Any]:
        body = {"identities": ids} if ids else {"all": True}
        results: dict[str, Any] = (
            await self.call("POST", f"/v1/rooms/{quote(room)}/waiting/admit", body)
        )["results"]
        return results

    async def deny(
        self,
        room: str,
        ids: list[str] | None = None,
        message: str | None = None,
        ban_seconds: int | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"identities": ids} if ids else {"all": True}
        if message is not None:
            body["message"] = message
        if ban_seconds is not None:
            body["ban_seconds"] = ban_seconds
        results: dict[str, Any] = (
            await self.call("POST", f"/v1/rooms/{quote(room)}/waiting/deny", body)
        )["results"]
        return results

    async def set_waiting_room(self, room: str, enabled: bool) -> None:
        await self.call("POST", f"/v1/rooms/{quote(room)}/waiting-room", {"enabled": enabled})

    async def open_breakouts(self, room: str, **plan: Any) -> dict[str, Any]:
        reply: dict[str, Any] = await self.call("POST", f"/v1/rooms/{quote(room)}/breakouts", plan)
        return reply

    async def close_breakouts(self, room: str, countdown_seconds: int | None = None) -> None:
        body = {} if countdown_seconds is None else {"countdown_seconds": countdown_seconds}
        await self.call("POST", f"/v1/rooms/{quote(room)}/breakouts/close", body)

    async def broadcast_to_breakouts(self, room: str, message: str) -> None:
        await self.call(
            "POST", f"/v1/rooms/{quote(room)}/breakouts/broadcast", {"message": message}
        )

    # ----- webhooks -----
    async def list_webhooks(self) -> list[dict[str, Any]]:
        got: list[dict[str, Any]] = (await self.call("GET", "/v1/webhooks"))["endpoints"]
        return got

    async def add_webhook(self, name: str, url: str, events: list[str] | None = None) -> Any:
        return await self.call(
            "POST", "/v1/webhooks", {"name": name, "url": url, "events": events or []}
        )

    async def remove_webhook(self, name: str) -> None:
        await self.call("DELETE", f"/v1/webhooks/{quote(name)}")

    async def webhook_deliveries(self, name: str, limit: int = 100) -> Any:
        return await self.call("GET", f"/v1/webhooks/{quote(name)}/deliveries?limit={limit}")
