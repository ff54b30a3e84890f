"""A minimal client of Gavel's native WebSocket protocol, so Python tests can act as a participant
and assert on the events it receives (docs/protocol.md, "Client protocol")."""

import asyncio
import json
import os
import time

import jwt
import websockets

HTTP = os.environ["GAVEL_HTTP"]
WS = os.environ["GAVEL_WS"]
KEY = os.environ["GAVEL_KEY"]
SECRET = os.environ["GAVEL_SECRET"]
WAIT = 5.0


def native_token(room, identity, role="participant", name=None, ttl=600):
    """A Gavel access token: LiveKit's claims plus Gavel's `role`."""
    now = int(time.time())
    claims = {
        "iss": KEY,
        "sub": identity,
        "iat": now,
        "nbf": now,
        "exp": now + ttl,
        "name": name or identity,
        "video": {"roomJoin": True, "room": room},
        "role": role,
    }
    return jwt.encode(claims, SECRET, algorithm="HS256")


class JoinRefused(Exception):
    """The room refused the join in-band (`banned`, `unauthenticated` for a revoked token, …)."""

    def __init__(self, code, message):
        super().__init__(f"{code}: {message}")
        self.code = code


class Participant:
    """One connected participant: sends requests, records every event in arrival order."""

    def __init__(self, ws):
        self.ws = ws
        self.events = []
        self.joined = None
        self._next_id = 0
        self._changed = asyncio.Event()
        self._reader = asyncio.ensure_future(self._read())

    @classmethod
    async def connect(cls, token):
        ws = await websockets.connect(f"{WS}/v1/rtc?access_token={token}")
        p = cls(ws)
        first = await p.wait_for_any(("joined", "error"))
        if first["type"] == "error":
            await p.close()
            raise JoinRefused(first["error"]["code"], first["error"]["message"])
        p.joined = first
        return p

    async def _read(self):
        try:
            async for raw in self.ws:
                self.events.append(json.loads(raw))
                self._changed.set()
        except websockets.ConnectionClosed:
            pass
        finally:
            self._changed.set()

    async def wait_for(self, kind, timeout=WAIT, **fields):
        """The first event of `kind` (whose fields match `fields`) not yet consumed."""
        return await self.wait_for_any((kind,), timeout, **fields)

    async def wait_for_any(self, kinds, timeout=WAIT, **fields):
        """The first event of one of `kinds` (whose fields match `fields`) not yet consumed."""
        kind = "|".join(kinds)
        deadline = time.monotonic() + timeout
        while True:
            for i, event in enumerate(self.events):
                if event.get("type") in kinds and all(event.get(k) == v for k, v in fields.items()):
                    del self.events[i]
                    return event
            if self._reader.done():
                raise AssertionError(f"connection closed before {kind} {fields}")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                seen = [e.get("type") for e in self.events]
                raise AssertionError(f"no {kind} {fields} within {timeout}s; pending: {seen}")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except asyncio.TimeoutError:
                pass

    async def request(self, kind, **fields):
        """Sends a request and returns its response."""
        self._next_id += 1
        rid = self._next_id
        await self.ws.send(json.dumps({"id": rid, "type": kind, **fields}))
        return await self.wait_for("response", id=rid)

    @property
    def closed(self):
        return self._reader.done()

    async def close(self):
        await self.ws.close()
        await asyncio.gather(self._reader, return_exceptions=True)
