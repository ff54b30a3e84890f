"""A participant's session: `CallClient` joins a room over Gavel's WebSocket protocol
(docs/protocol.md, "Client protocol"), keeps the room's state current event by event, calls
the application's handlers, and sends its requests. Signalling only: it publishes no audio or
video (its tracks are state, which is what a moderator bot needs).

A connection that breaks resumes by itself for up to 10 s: same session, the messages missed
meanwhile replayed, nobody sees it leave (`on_resumed`)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidStatus

from .errors import GavelError
from .handlers import EventHandler
from .participant import DAILY_SOURCE, GAVEL_SOURCE, Participant, Stream

REQUEST_TIMEOUT = 10.0
RESUME_FOR = 10.0
RESUME_RETRY = 0.3
# Every host control (Daily's `canAdmin: True`).
HOST_CONTROLS = [
    "mute_audio",
    "mute_video",
    "mute_screen",
    "request_media",
    "pin",
    "kick",
    "end_session",
    "manage_participants",
    "lock",
    "stage",
    "admit",
]
# Daily's `setSubscribedTracks` keys.
SUBSCRIBED_TRACK = {
    "audio": "microphone",
    "video": "camera",
    "screenVideo": "screen_video",
    "screenAudio": "screen_audio",
}

Completion = Callable[[str | None], None]


def _ws_base(url: str) -> str:
    url = url.rstrip("/")
    if url.startswith("http://"):
        return "ws://" + url[len("http://") :]
    if url.startswith("https://"):
        return "wss://" + url[len("https://") :]
    return url


def _permissions_patch(permissions: dict[str, Any]) -> dict[str, Any]:
    """Daily's `{canSend, canAdmin}` as Gavel's permissions patch."""
    patch: dict[str, Any] = {}
    if "canSend" in permissions:
        patch["can_send"] = [GAVEL_SOURCE.get(s, s) for s in permissions["canSend"]]
    if "canAdmin" in permissions:
        patch["host"] = HOST_CONTROLS if permissions["canAdmin"] else []
    return patch


class CallClient:
    """One participant session. `await client.join(url, token)`, then read
    `client.participants()`, react in your `EventHandler`, and act as a host."""

    def __init__(self, event_handler: EventHandler | None = None) -> None:
        self.handler = event_handler or EventHandler()
        self.room: str | None = None
        self.room_info: dict[str, Any] = {}
        self.sid: str | None = None
        self.local: Participant | None = None
        self.waiting: dict[str, Any] | None = None
        self.waiters: list[dict[str, Any]] = []
        self.hands: list[str] = []
        self.stage: list[str] = []
        self.pinned: str | None = None
        self.left: str | None = None
        self.resumes = 0
        self._participants: dict[str, Participant] = {}
        self._counts: dict[str, int] = {"present": 0, "hidden": 0, "waiting": 0}
        self._speaker: str | None = None
        self._ws: ClientConnection | None = None
        self._url = ""
        self._token = ""
        self._next_id = 1
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._last_seq = 0
        self._last_ev = 0
        self._first: asyncio.Future[dict[str, Any]] | None = None
        self._closed = asyncio.Event()

    # ----- the session -----

    async def join(self, url: str, token: str) -> None:
        """Joins the room `token` is for, at the server `url` (`http://host:7880` or
        `ws://…`). Returns once in the room, or waiting in its waiting room (`waiting` is then
        set; `on_joined` follows on admission). Raises `GavelError` when refused."""
        self._url = _ws_base(url)
        self._token = token
        try:
            ws = await websockets.connect(
                f"{self._url}/v1/rtc?access_token={quote(token)}", max_size=2**21
            )
        except InvalidStatus as e:
            body = e.response.body or b"{}"
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = {"error": {"code": "internal", "message": body.decode(errors="replace")}}
            raise GavelError.from_body(parsed, e.response.status_code) from None
        self._ws = ws
        loop = asyncio.get_running_loop()
        self._first = loop.create_future()
        self._reader = asyncio.create_task(self._read())
        first = await asyncio.wait_for(self._first, REQUEST_TIMEOUT)
        if first.get("type") == "error":
            raise GavelError.from_body(first)

    async def leave(self) -> None:
        """Leaves the room and closes the connection."""
        if self._ws is None or self.left:
            return
        with contextlib.suppress(GavelError, asyncio.TimeoutError, ConnectionClosed):
            await self.request({"type": "leave"})
        await self.close()

    async def close(self) -> None:
        """Closes the connection (the room sees this client disconnect)."""
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._reader, 5)

    async def wait_closed(self) -> None:
        await self._closed.wait()

    # ----- the room, as this client sees it -----

    def participants(self) -> dict[str, Participant]:
        """Everyone this client can see, itself included, by id (identity)."""
        return dict(self._participants)

    def participant(self, identity: str) -> Participant | None:
        return self._participants.get(identity)

    def participant_counts(self) -> dict[str, int]:
        """`{"present", "hidden", "waiting"}`."""
        return dict(self._counts)

    def active_speaker(self) -> dict[str, Any] | None:
        """`{"participantId": …}` of the latest loudest speaker, or None."""
        return {"participantId": self._speaker} if self._speaker else None

    @property
    def is_waiting(self) -> bool:
        return self.waiting is not None and self.local is None and self.left is None

    # ----- requests -----

    async def request(self, body: dict[str, Any]) -> dict[str, Any]:
        """Sends one request (`{"type": …, …}`) and returns its response; raises
        `GavelError` with the server's code when refused."""
        if self._ws is None:
            raise GavelError("failed_precondition", "not connected: join first")
        rid = self._next_id
        self._next_id += 1
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        try:
            await self._ws.send(json.dumps({**body, "id": rid}))
            response = await asyncio.wait_for(fut, REQUEST_TIMEOUT)
        finally:
            self._pending.pop(rid, None)
        if not response.get("ok"):
            raise GavelError.from_body(response)
        return response

    def spawn(
        self, body: dict[str, Any], completion: Completion | None = None
    ) -> asyncio.Task[Any]:
        """Sends `body` in the background: await the task for the response, or pass Daily's
        `completion(error)` (None on success)."""

        async def run() -> Any:
            try:
                response = await self.request(body)
            except GavelError as e:
                if completion:
                    completion(f"{e.code}: {e.message}")
                    return None
                raise
            if completion:
                completion(None)
            return response

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # ----- Daily's batch calls -----

    def update_remote_participants(
        self,
        remote_participants: dict[str, dict[str, Any]],
        completion: Completion | None = None,
    ) -> asyncio.Task[Any]:
        """Daily's call: per participant id (or `"*"`: everyone else), `setAudio`,
        `setVideo`, `setScreenVideo` (false mutes; true asks, under the room's unmute policy),
        `eject`, `updatePermissions` (`canSend`, `canAdmin`) and `setSubscribedTracks`
        (what this client receives from them: a bool, or `{"audio", "video", "screenVideo",
        "screenAudio"}`). One batch for the room; `completion(error)` once done, with the
        first failure if any."""

        async def run() -> dict[str, Any]:
            updates: dict[str, dict[str, Any]] = {}
            subscriptions: list[dict[str, Any]] = []
            for pid, opts in remote_participants.items():
                entry: dict[str, Any] = {}
                for daily, gavel in (
                    ("setAudio", "set_audio"),
                    ("setVideo", "set_video"),
                    ("setScreenVideo", "set_screen"),
                ):
                    if daily in opts:
                        entry[gavel] = bool(opts[daily])
                if opts.get("eject"):
                    entry["eject"] = True
                if "updatePermissions" in opts:
                    entry["permissions"] = _permissions_patch(opts["updatePermissions"])
                if entry:
                    updates[pid] = entry
                if "setSubscribedTracks" in opts:
                    subscriptions.extend(self._subscriptions(pid, opts["setSubscribedTracks"]))
            results: dict[str, Any] = {}
            if updates:
                reply = await self.request({"type": "batch_update", "updates": updates})
                results = reply.get("results", {})
            for sub in subscriptions:
                await self.request(sub)
            return results

        return self._batch(run(), completion)

    def _subscriptions(self, pid: str, tracks: Any) -> list[dict[str, Any]]:
        targets = [p for p in self._participants if p != self._local_id()] if pid == "*" else [pid]
        if isinstance(tracks, bool):
            wanted = {source: tracks for source in SUBSCRIBED_TRACK.values()}
        else:
            wanted = {
                SUBSCRIBED_TRACK[k]: bool(v) for k, v in tracks.items() if k in SUBSCRIBED_TRACK
            }
        out = []
        for identity in targets:
            for subscribed in (True, False):
                sources = [s for s, on in wanted.items() if on == subscribed]
                if sources:
                    out.append(
                        {
                            "type": "update_subscription",
                            "identity": identity,
                            "sources": sources,
                            "subscribed": subscribed,
                        }
                    )
        return out

    def eject_remote_participants(
        self,
        ids: list[str],
        completion: Completion | None = None,
        ban_seconds: int | None = None,
    ) -> asyncio.Task[Any]:
        """Removes these participants (and bans them for `ban_seconds`)."""
        body: dict[str, Any] = {"type": "kick", "identities": list(ids)}
        if ban_seconds is not None:
            body["ban_seconds"] = ban_seconds
        return self._batch(self._results(body), completion)

    def update_permissions(
        self,
        permissions: dict[str, Any],
        completion: Completion | None = None,
        ids: list[str] | None = None,
    ) -> asyncio.Task[Any]:
        """Daily's `{canSend, canAdmin}` for everyone else in the room (or `ids`)."""
        patch = _permissions_patch(permissions)
        updates = {pid: {"permissions": patch} for pid in (ids or ["*"])}
        return self._batch(self._results({"type": "batch_update", "updates": updates}), completion)

    async def _results(self, body: dict[str, Any]) -> dict[str, Any]:
        reply = await self.request(body)
        results: dict[str, Any] = reply.get("results", {})
        return results

    def _batch(self, coro: Any, completion: Completion | None) -> asyncio.Task[Any]:
        async def run() -> Any:
            try:
                results = await coro
            except GavelError as e:
                if completion:
                    completion(f"{e.code}: {e.message}")
                    return None
                raise
            failed = [
                f"{pid}: {r.get('error', {}).get('message')}"
                for pid, r in (results or {}).items()
                if not r.get("ok", True)
            ]
            if completion:
                completion(failed[0] if failed else None)
            return results

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # ----- the room's features, as one request each -----

    async def publish(self, source: str, muted: bool = False) -> dict[str, Any]:
        """Publishes a track's state (no media: this client sends none)."""
        return await self.request({"type": "publish_track", "source": source, "muted": muted})

    async def audio_level(self, level: int) -> None:
        """Reports this client's microphone level (RFC 6464: 0 loudest … 127 silence) when it
        has no media session, for the room's active-speaker detection."""
        await self.request({"type": "audio_level", "level": level})

    async def set_muted(self, source: str, muted: bool) -> None:
        track = self._own_track(source)
        if track is not None:
            await self.request(
                {"type": "set_track_muted", "track_sid": track["sid"], "muted": muted}
            )

    async def mute_all(
        self, source: str = "microphone", except_ids: list[str] | None = None
    ) -> int:
        reply = await self.request(
            {"type": "mute_all", "source": source, "except": except_ids or []}
        )
        return int(reply.get("changed", 0))

    async def end_session(self) -> None:
        await self.request({"type": "end_session"})

    async def lock(self, locked: bool = True) -> None:
        await self.request({"type": "lock_room", "locked": locked})

    async def raise_hand(self, raised: bool = True) -> None:
        await self.request({"type": "raise_hand", "raised": raised})

    async def admit(self, ids: list[str] | None = None) -> dict[str, Any]:
        """Lets `ids` (None: everyone waiting) in from the waiting room."""
        body: dict[str, Any] = {"type": "admit"}
        body.update({"identities": ids} if ids else {"all": True})
        return await self._results(body)

    async def deny(
        self,
        ids: list[str] | None = None,
        message: str | None = None,
        ban_seconds: int | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"type": "deny", "message": message, "ban_seconds": ban_seconds}
        body.update({"identities": ids} if ids else {"all": True})
        return await self._results({k: v for k, v in body.items() if v is not None})

    async def set_waiting_room(self, enabled: bool) -> None:
        await self.request({"type": "set_waiting_room", "enabled": enabled})

    async def open_breakouts(
        self,
        count: int | None = None,
        rooms: list[dict[str, Any]] | None = None,
        duration_seconds: int | None = None,
        countdown_seconds: int | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"type": "open_breakouts"}
        for k, v in (
            ("count", count),
            ("rooms", rooms),
            ("duration_seconds", duration_seconds),
            ("countdown_seconds", countdown_seconds),
        ):
            if v is not None:
                body[k] = v
        return await self.request(body)

    async def close_breakouts(self, countdown_seconds: int | None = None) -> None:
        body: dict[str, Any] = {"type": "close_breakouts"}
        if countdown_seconds is not None:
            body["countdown_seconds"] = countdown_seconds
        await self.request(body)

    async def broadcast_to_breakouts(self, message: str) -> None:
        await self.request({"type": "broadcast_to_breakouts", "message": message})

    async def move(self, identity: str, room: str) -> None:
        await self.request({"type": "move", "identity": identity, "destination": room})

    async def send_data(self, data: bytes, to: list[str] | None = None) -> None:
        body: dict[str, Any] = {"type": "send_data", "payload": base64.b64encode(data).decode()}
        if to:
            body["destination_identities"] = to
        await self.request(body)

    # ----- reading -----

    def _local_id(self) -> str | None:
        return self.local.id if self.local else None

    def _own_track(self, source: str) -> dict[str, Any] | None:
        if self.local is None:
            return None
        tracks: list[dict[str, Any]] = self.local.raw.get("tracks", [])
        return next((t for t in tracks if t.get("source") == source), None)

    async def _read(self) -> None:
        while True:
            assert self._ws is not None
            broke = False
            try:
                async for text in self._ws:
                    self._receive(json.loads(text))
                # 1006: no close frame (the connection broke), so the session may resume.
                broke = self._ws.close_code == 1006
            except ConnectionClosed as e:
                broke = e.rcvd is None
            except ValueError:
                continue
            if broke and self.sid and not self.left and await self._resume():
                continue
            break
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(GavelError("disconnected", "the connection closed"))
        if self._first and not self._first.done():
            self._first.set_result(
                {
                    "type": "error",
                    "error": {"code": "disconnected", "message": "closed before joining"},
                }
            )
        if not self.left:
            self.left = "disconnected"
            self.handler.on_left("disconnected", None)
        self._closed.set()

    async def _resume(self) -> bool:
        """The connection broke: the same session on a new one, for up to RESUME_FOR."""
        deadline = time.monotonic() + RESUME_FOR
        url = (
            f"{self._url}/v1/rtc?access_token={quote(self._token)}&resume={self.sid}"
            f"&last_seq={self._last_seq}&last_ev={self._last_ev}"
        )
        while time.monotonic() < deadline:
            try:
                ws = await websockets.connect(url, max_size=2**21)
            except InvalidStatus:
                return False
            except OSError:
                await asyncio.sleep(RESUME_RETRY)
                continue
            first = json.loads(await ws.recv())
            if first.get("type") != "resumed":
                await ws.close()
                return False
            self._last_seq = int(first.get("seq", self._last_seq))
            self._ws = ws
            self.resumes += 1
            self.handler.on_resumed()
            return True
        return False

    def _receive(self, msg: dict[str, Any]) -> None:
        if isinstance(msg.get("seq"), int):
            self._last_seq = msg["seq"]
        if isinstance(msg.get("ev"), int):
            self._last_ev = msg["ev"]
        kind = msg.get("type")
        if kind == "response":
            fut = self._pending.get(msg.get("id"))  # type: ignore[arg-type]
            if fut is not None and not fut.done():
                fut.set_result(msg)
            return
        if kind == "error" and self._first and not self._first.done():
            self._first.set_result(msg)
            return
        self._apply(msg)
        if kind in ("joined", "waiting") and self._first and not self._first.done():
            self._first.set_result(msg)
        self.handler.on_event(msg)

    def _person(self, raw: dict[str, Any]) -> Participant:
        """The Participant for `raw`, updated in place (so references stay valid)."""
        identity = raw["identity"]
        local = identity == self._local_id() or (
            self.sid is not None and raw.get("sid") == self.sid
        )
        p = self._participants.get(identity)
        if p is None:
            p = Participant(self, raw, local)
            self._participants[identity] = p
        else:
            before = {t["sid"]: t for t in p.raw.get("tracks", []) if not t.get("muted")}
            p.update(raw)
            after = {t["sid"]: t for t in raw.get("tracks", []) if not t.get("muted")}
            for sid in after.keys() - before.keys():
                p._stream_changed(Stream(after[sid]), True)
            for sid in before.keys() - after.keys():
                p._stream_changed(Stream(before[sid]), False)
        if local:
            self.local = p
        return p

    def _apply(self, ev: dict[str, Any]) -> None:
        h = self.handler
        kind = ev.get("type")
        if kind == "joined":
            self.room = ev["room"]["name"]
            self.room_info = ev["room"]
            self.sid = ev["self"]["sid"]
            self.waiting = None
            self._participants = {}
            self.local = None
            self._person(ev["self"])
            for p in ev.get("participants", []):
                self._person(p)
            self._counts = {"waiting": 0, **ev.get("counts", {})}
            self.pinned = ev.get("pinned")
            speakers = ev.get("active_speakers") or []
            self._speaker = speakers[0]["identity"] if speakers else None
            self.hands = list(ev.get("hands", []))
            self.stage = list(ev.get("stage", []))
            self.waiters = list(ev.get("waiters", []))
            h.on_joined(self.room)
        elif kind == "waiting":
            self.room = ev["room"]
            self.sid = ev["self"]["sid"]
            self.waiting = ev["self"]
            h.on_waiting(ev["self"])
        elif kind == "participant_joined":
            h.on_participant_joined(self._person(ev["participant"]))
        elif kind == "participant_left":
            gone = self._participants.pop(ev["identity"], None)
            self.hands = [x for x in self.hands if x != ev["identity"]]
            self.stage = [x for x in self.stage if x != ev["identity"]]
            if gone is not None:
                h.on_participant_left(gone, ev.get("reason", "left"))
        elif kind == "participant_updated":
            h.on_participant_updated(self._person(ev["participant"]))
        elif kind == "permissions_changed" and self.local is not None:
            raw = {**self.local.raw, "role": ev["role"], "permissions": ev["permissions"]}
            h.on_participant_updated(self._person(raw))
        elif kind in ("track_published", "track_unpublished", "track_muted"):
            self._track_event(ev)
        elif kind == "counts_updated":
            self._counts = {
                "present": ev["present"],
                "hidden": ev["hidden"],
                "waiting": ev.get("waiting", 0),
            }
            h.on_participant_counts_updated(dict(self._counts))
        elif kind == "active_speaker_changed":
            self._speaker = ev.get("identity")
            h.on_active_speaker_changed({"participantId": self._speaker})
        elif kind in ("pinned", "unpinned"):
            self.pinned = ev.get("identity") if kind == "pinned" else None
        elif kind == "media_requested":
            data = self._request_data(ev)
            source = ev.get("source")
            if source == "microphone":
                h.on_mic_requested(data)
            elif source == "camera":
                h.on_webcam_requested(data)
            else:
                h.on_screen_share_requested(data)
        elif kind == "stage_invited":
            h.on_stage_invited(self._request_data(ev))
        elif kind == "stage_changed":
            self.stage = [x for x in self.stage if x != ev["identity"]]
            if ev["on_stage"]:
                self.stage.append(ev["identity"])
            h.on_stage_changed(ev["identity"], ev["on_stage"])
        elif kind == "hand_changed":
            self.hands = [x for x in self.hands if x != ev["identity"]]
            if ev["raised"]:
                self.hands.append(ev["identity"])
            h.on_hand_changed(ev["identity"], ev["raised"])
        elif kind == "waiter_added":
            self.waiters = [w for w in self.waiters if w["identity"] != ev["waiter"]["identity"]]
            self.waiters.append(ev["waiter"])
            h.on_waiter_added(ev["waiter"])
        elif kind == "waiters_removed":
            gone_ids = set(ev["identities"])
            self.waiters = [w for w in self.waiters if w["identity"] not in gone_ids]
            h.on_waiters_removed(ev["identities"], ev["outcome"])
        elif kind == "breakouts_opened":
            h.on_breakouts_opened(ev["rooms"])
        elif kind == "breakouts_closing":
            h.on_breakouts_closing(ev["at"])
        elif kind == "breakout_broadcast":
            h.on_breakout_broadcast(ev["message"], ev.get("by"))
        elif kind == "moved":
            h.on_moved(ev["from"], ev["room"])
        elif kind == "room_updated":
            self.room_info = ev["room"]
            h.on_room_updated(ev["room"])
        elif kind == "host_left":
            h.on_host_left(ev["action"], ev["at"])
        elif kind == "host_returned":
            h.on_host_returned(ev["identity"])
        elif kind == "data_received":
            h.on_data_received(base64.b64decode(ev["payload"]), ev.get("from"))
        elif kind == "room_left":
            self.left = ev["reason"]
            h.on_left(ev["reason"], ev.get("message"))

    def _request_data(self, ev: dict[str, Any]) -> dict[str, Any]:
        """VideoSDK's request data: accept / reject callbacks and who asks."""
        rid = ev["request_id"]
        source = ev.get("source")

        def answer(accept: bool) -> asyncio.Task[Any]:
            async def run() -> None:
                await self.request({"type": "respond_request", "request_id": rid, "accept": accept})
                # Turning it on: a client with no such track publishes one.
                if accept and source and self._own_track(source) is None:
                    await self.publish(source)

            task = asyncio.get_running_loop().create_task(run())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return task

        return {
            "accept": lambda: answer(True),
            "reject": lambda: answer(False),
            "participantId": ev.get("from"),
            "source": DAILY_SOURCE.get(source or "", source),
            "requestId": rid,
        }

    def _track_event(self, ev: dict[str, Any]) -> None:
        kind = ev["type"]
        if kind == "track_muted" and ev.get("all"):
            except_ids = set(ev.get("except", []))
            targets = [p for p in self._participants.values() if p.id not in except_ids]
        else:
            p = self._participants.get(ev.get("identity") or "")
            targets = [p] if p is not None else []
        for p in targets:
            tracks = [dict(t) for t in p.raw.get("tracks", [])]
            if kind == "track_published":
                tracks = [t for t in tracks if t["sid"] != ev["track"]["sid"]] + [ev["track"]]
            elif kind == "track_unpublished":
                tracks = [t for t in tracks if t["sid"] != ev["track_sid"]]
            else:
                for t in tracks:
                    if t.get("source") == ev["source"] and (
                        ev.get("all") or t["sid"] == ev.get("track_sid")
                    ):
                        t["muted"] = ev["muted"]
                        if ev["muted"] and ev.get("by"):
                            t["muted_by"] = ev["by"]
                        else:
                            t.pop("muted_by", None)
            self.handler.on_participant_updated(self._person({**p.raw, "tracks": tracks}))
