"""Seed 001 — Daily's "Meeting Moderator" example on Gavel: a moderator that tracks who is
here, mutes one participant or everyone, ejects, and lists participants with their media.

Run: GAVEL_URL=… GAVEL_TOKEN=<a host's join token> python daily_moderator.py"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from gavel import CallClient, EventHandler


class MeetingModerator(EventHandler):
    def __init__(self) -> None:
        self.__client = CallClient(event_handler=self)
        self.__participants: dict[str, Any] = {}

    def on_participant_joined(self, participant: Any) -> None:
        participant_id = participant.get("id")
        user_name = participant.get("info", {}).get("userName", "Unknown")
        self.__participants[participant_id] = participant
        print(f"✓ {user_name} joined the meeting")

    def on_participant_left(self, participant: Any, reason: str) -> None:
        participant_id = participant.get("id")
        user_name = participant.get("info", {}).get("userName", "Unknown")
        if participant_id in self.__participants:
            del self.__participants[participant_id]
        print(f"✗ {user_name} left ({reason})")

    def on_active_speaker_changed(self, participant: dict[str, Any]) -> None:
        participant_id = participant.get("participantId")
        if participant_id and participant_id in self.__participants:
            user_name = self.__participants[participant_id].get("info", {}).get("userName")
            print(f"🎤 {user_name} is speaking")

    async def start(self, url: str, token: str) -> None:
        await self.__client.join(url, token)
        # Gavel's snapshot: those already here when the moderator joins.
        for participant_id, participant in self.__client.participants().items():
            if not participant.get("info", {}).get("isLocal"):
                self.__participants[participant_id] = participant

    def mute_participant(self, participant_id: str) -> asyncio.Task[Any]:
        """Mute a specific participant"""
        return self.__client.update_remote_participants(
            remote_participants={participant_id: {"setAudio": False}},
            completion=lambda error: (
                print(f"Muted {participant_id}") if not error else print(f"Failed to mute: {error}")
            ),
        )

    def mute_all(self) -> asyncio.Task[Any] | None:
        """Mute all participants except self"""
        updates = {}
        for participant_id, participant in self.__participants.items():
            if not participant.get("info", {}).get("isLocal"):
                updates[participant_id] = {"setAudio": False}
        if updates:
            return self.__client.update_remote_participants(
                remote_participants=updates,
                completion=lambda error: (
                    print("Muted all participants")
                    if not error
                    else print(f"Failed to mute all: {error}")
                ),
            )
        return None

    def kick_participant(self, participant_id: str) -> asyncio.Task[Any]:
        """Eject a participant from the meeting"""
        return self.__client.eject_remote_participants(
            ids=[participant_id],
            completion=lambda error: (
                print(f"Ejected {participant_id}")
                if not error
                else print(f"Failed to eject: {error}")
            ),
        )

    def list_participants(self) -> None:
        """List all current participants"""
        print("\nCurrent participants:")
        for _participant_id, participant in self.__participants.items():
            info = participant.get("info", {})
            media = participant.get("media", {})
            name = info.get("userName", "Unknown")
            is_local = info.get("isLocal", False)
            is_owner = info.get("isOwner", False)
            camera = media.get("camera", {}).get("state", "off")
            mic = media.get("microphone", {}).get("state", "off")
            status = "(you)" if is_local else ""
            owner = "👑" if is_owner else ""
            print(f" {owner} {name} {status}")
            print(f" Camera: {camera}, Mic: {mic}")

    async def stop(self) -> None:
        await self.__client.leave()


async def main() -> None:
    moderator = MeetingModerator()
    await moderator.start(os.environ["GAVEL_URL"], os.environ["GAVEL_TOKEN"])
    # Moderator actions
    moderator.list_participants()
    target = os.environ.get("MUTE", "participant-id")
    await moderator.mute_participant(target)
    task = moderator.mute_all()
    if task:
        await task
    await moderator.kick_participant(os.environ.get("KICK", "disruptive-participant-id"))
    await moderator.stop()


if __name__ == "__main__":
    asyncio.run(main())
