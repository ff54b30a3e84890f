"""A participant as an application sees it: a dictionary in the shape Daily's Python SDK uses
(`info`, `media`, `permissions`; seed 001), with the host actions VideoSDK's participant object
offers (`enable_mic()` asks, `disable_mic()` forces, likewise webcam and screen; `pin()`,
`kick()`; seed 000) and VideoSDK's per-participant event listeners."""

from __future__ import annotations

import asyncio
import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .client import CallClient
    from .handlers import ParticipantEventHandler

# Gavel's source names ↔ Daily's.
DAILY_SOURCE = {
    "camera": "camera",
    "microphone": "microphone",
    "screen_video": "screenVideo",
    "screen_audio": "screenAudio",
}
GAVEL_SOURCE = {v: k for k, v in DAILY_SOURCE.items()}
# VideoSDK's stream kinds.
STREAM_KIND = {"microphone": "audio", "camera": "video", "screen_video": "share"}


class Stream:
    """A published track, as VideoSDK names it (`kind`: `audio`, `video` or `share`)."""

    def __init__(self, track: dict[str, Any]) -> None:
        self.id: str = str(track.get("sid", ""))
        self.source: str = str(track.get("source", ""))
        self.kind: str = STREAM_KIND.get(self.source, self.source)
        self.track = track

    def __repr__(self) -> str:
        return f"Stream({self.kind}, {self.id})"


def media_state(info: dict[str, Any], source: str) -> str:
    """Daily's media state: `playable` (sending), `off` (muted or not published) or `blocked`
    (not allowed to send)."""
    track = next((t for t in info.get("tracks", []) if t.get("source") == source), None)
    if track is None:
        allowed = source in info.get("permissions", {}).get("can_send", [])
        return "off" if allowed else "blocked"
    return "off" if track.get("muted") else "playable"


def iso(ms: int) -> str:
    when = datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.timezone.utc)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Participant(dict[str, Any]):
    """One participant: `participant["info"]["userName"]`, `participant.get("media")`, … as in
    Daily; `participant.id` and host actions as in VideoSDK. Rebuilt from Gavel's
    `ParticipantInfo` (kept whole in `participant.raw`) on every change."""

    def __init__(self, client: CallClient, raw: dict[str, Any], is_local: bool) -> None:
        super().__init__()
        self._client = client
        self._listeners: list[ParticipantEventHandler] = []
        self.update(raw, is_local)

    def update(self, raw: dict[str, Any], is_local: bool | None = None) -> None:  # type: ignore[override]
        """Takes in Gavel's new `ParticipantInfo` for this participant."""
        self.raw = raw
        local = is_local if is_local is not None else bool(self.get("info", {}).get("isLocal"))
        permissions = raw.get("permissions", {})
        self.clear()
        self["id"] = raw.get("identity", "")
        self["info"] = {
            "userId": raw.get("identity", ""),
            "userName": raw.get("name") or raw.get("identity", ""),
            "isLocal": local,
            "isOwner": bool(permissions.get("host")),
            "joinedAt": iso(int(raw.get("joined_at", 0))),
            "role": raw.get("role", ""),
            "sessionId": raw.get("sid", ""),
            "metadata": raw.get("metadata", ""),
        }
        self["media"] = {
            DAILY_SOURCE[s]: {
                "state": media_state(raw, s),
                "subscribed": s in permissions.get("can_receive", []),
            }
            for s in DAILY_SOURCE
        }
        self["permissions"] = {
            "canSend": [DAILY_SOURCE[s] for s in permissions.get("can_send", [])],
            "canAdmin": bool(permissions.get("host")),
            "hostControls": list(permissions.get("host", [])),
        }

    @property
    def id(self) -> str:
        return str(self["id"])

    @property
    def identity(self) -> str:
        return str(self["id"])

    @property
    def display_name(self) -> str:
        return str(self["info"]["userName"])

    @property
    def streams(self) -> dict[str, Stream]:
        """Its published, unmuted tracks by id (VideoSDK)."""
        return {str(t["sid"]): Stream(t) for t in self.raw.get("tracks", []) if not t.get("muted")}

    # ----- VideoSDK's per-participant listeners -----

    def add_event_listener(self, handler: ParticipantEventHandler) -> None:
        self._listeners.append(handler)

    def remove_event_listener(self, handler: ParticipantEventHandler) -> None:
        self._listeners = [h for h in self._listeners if h is not handler]

    def _stream_changed(self, stream: Stream, enabled: bool) -> None:
        for h in list(self._listeners):
            if enabled:
                h.on_stream_enabled(stream)
            else:
                h.on_stream_disabled(stream)

    # ----- host actions (each a request; awaiting the task gives its reply or error) -----

    def _ask(self, source: str) -> asyncio.Task[Any]:
        return self._client.spawn({"type": "request_media", "identity": self.id, "source": source})

    def _mute(self, source: str) -> asyncio.Task[Any]:
        return self._client.spawn(
            {"type": "mute", "identity": self.id, "source": source, "muted": True}
        )

    def enable_mic(self) -> asyncio.Task[Any]:
        """Asks the participant to turn its microphone on (it gets `on_mic_requested`)."""
        return self._ask("microphone")

    def disable_mic(self) -> asyncio.Task[Any]:
        """Mutes the participant's microphone for everyone."""
        return self._mute("microphone")

    def enable_webcam(self) -> asyncio.Task[Any]:
        """Asks the participant to turn its camera on (it gets `on_webcam_requested`)."""
        return self._ask("camera")

    def disable_webcam(self) -> asyncio.Task[Any]:
        return self._mute("camera")

    def enable_screen_share(self) -> asyncio.Task[Any]:
        return self._ask("screen_video")

    def disable_screen_share(self) -> asyncio.Task[Any]:
        return self._mute("screen_video")

    def pin(self) -> asyncio.Task[Any]:
        return self._client.spawn({"type": "pin", "identity": self.id})

    def unpin(self) -> asyncio.Task[Any]:
        return self._client.spawn({"type": "unpin", "identity": self.id})

    def kick(self, ban_seconds: int | None = None) -> asyncio.Task[Any]:
        """Removes the participant (and, with `ban_seconds`, keeps it out that long)."""
        body: dict[str, Any] = {"type": "kick", "identity": self.id}
        if ban_seconds is not None:
            body["ban_seconds"] = ban_seconds
        return self._client.spawn(body)

    def remove(self) -> asyncio.Task[Any]:
        """VideoSDK's name for `kick()`."""
        return self.kick()

    def set_role(self, role: str) -> asyncio.Task[Any]:
        return self._client.spawn({"type": "update_participant", "identity": self.id, "role": role})

    def lower_hand(self) -> asyncio.Task[Any]:
        return self._client.spawn({"type": "lower_hand", "identity": self.id})

    def invite_to_stage(self) -> asyncio.Task[Any]:
        return self._client.spawn({"type": "invite_to_stage", "identity": self.id})

    def remove_from_stage(self) -> asyncio.Task[Any]:
        return self._client.spawn({"type": "remove_from_stage", "identity": self.id})

    def move_to(self, room: str) -> asyncio.Task[Any]:
        return self._client.spawn({"type": "move", "identity": self.id, "destination": room})

    def __hash__(self) -> int:  # type: ignore[override]
        return id(self)

    def __eq__(self, other: object) -> bool:
        return self is other
