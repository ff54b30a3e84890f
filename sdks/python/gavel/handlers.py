"""Event handlers: subclass and override what you need (every method does nothing by default).

`EventHandler` has Daily's names (`on_participant_joined`, `on_participant_left(participant,
reason)`, `on_participant_updated`, `on_participant_counts_updated`,
`on_active_speaker_changed`) and VideoSDK's (`on_mic_requested`, `on_webcam_requested`, with
`accept`, `reject` and `participantId`), plus Gavel's own: the waiting room, hands, the stage,
breakout rooms, the lock, the last host leaving, and the session's end. `MeetingEventHandler`
is the same class under VideoSDK's name."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .participant import Participant, Stream


class EventHandler:
    # ----- who is here -----
    def on_joined(self, room: str) -> None:
        """This client is in the room (after its join, or once admitted from the waiting room)."""

    def on_participant_joined(self, participant: Participant) -> None: ...

    def on_participant_left(self, participant: Participant, reason: str) -> None: ...

    def on_participant_updated(self, participant: Participant) -> None: ...

    def on_participant_counts_updated(self, counts: dict[str, int]) -> None: ...

    def on_active_speaker_changed(self, participant: dict[str, Any]) -> None:
        """`{"participantId": identity or None}`."""

    # ----- requests to this client -----
    def on_mic_requested(self, data: dict[str, Any]) -> None:
        """A host asks to turn the microphone on: `data["accept"]()`, `data["reject"]()`,
        `data["participantId"]` (who asks)."""

    def on_webcam_requested(self, data: dict[str, Any]) -> None:
        """As `on_mic_requested`, for the camera."""

    def on_screen_share_requested(self, data: dict[str, Any]) -> None:
        """As `on_mic_requested`, for the screen."""

    def on_stage_invited(self, data: dict[str, Any]) -> None:
        """A host invites this client to the stage: `accept()` / `reject()`, `participantId`."""

    # ----- Gavel's room features -----
    def on_waiting(self, status: dict[str, Any]) -> None:
        """This client waits in the waiting room (`status`: its WaiterInfo)."""

    def on_waiter_added(self, waiter: dict[str, Any]) -> None:
        """Someone started waiting (holders of `admit`)."""

    def on_waiters_removed(self, identities: list[str], outcome: str) -> None: ...

    def on_hand_changed(self, identity: str, raised: bool) -> None: ...

    def on_stage_changed(self, identity: str, on_stage: bool) -> None: ...

    def on_breakouts_opened(self, rooms: list[dict[str, Any]]) -> None: ...

    def on_breakouts_closing(self, at: int) -> None: ...

    def on_breakout_broadcast(self, message: str, by: str | None) -> None: ...

    def on_moved(self, from_room: str, room: str) -> None: ...

    def on_room_updated(self, room: dict[str, Any]) -> None:
        """The room's settings changed (its metadata, lock, breakouts, waiting room)."""

    def on_host_left(self, action: str, at: int) -> None: ...

    def on_host_returned(self, identity: str) -> None: ...

    def on_data_received(self, data: bytes, from_identity: str | None) -> None: ...

    def on_event(self, event: dict[str, Any]) -> None:
        """Every event, as the server sent it, after the named handlers."""

    def on_resumed(self) -> None:
        """The connection broke and the session resumed on a new one (nothing was missed)."""

    def on_left(self, reason: str, message: str | None) -> None:
        """The session is over (`kicked`, `ended`, `denied`, `waiting_timeout`, ...)."""


MeetingEventHandler = EventHandler


class ParticipantEventHandler:
    """VideoSDK's per-participant listener (`participant.add_event_listener(handler)`)."""

    def on_stream_enabled(self, stream: Stream) -> None: ...

    def on_stream_disabled(self, stream: Stream) -> None: ...
