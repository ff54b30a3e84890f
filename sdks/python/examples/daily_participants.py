"""Seed 001 — Daily's "Participant management" guide, its snippets on Gavel: listing
participants and their data structure, counts, participant events, the active speaker,
updating and ejecting remote participants, and permissions.

Each function is one snippet of the guide; `main()` runs them as a host (GAVEL_URL and
GAVEL_TOKEN, a host's join token)."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from gavel import CallClient, EventHandler


def list_all_participants(client: CallClient) -> None:
    # Get all participants
    participants = client.participants()
    for participant_id, participant_data in participants.items():
        info = participant_data.get("info", {})
        print(f"ID: {participant_id}")
        print(f"Name: {info.get('userName')}")
        print(f"Is local: {info.get('isLocal')}")
        print(f"Owner: {info.get('isOwner')}")


def print_counts(client: CallClient) -> None:
    counts = client.participant_counts()
    print(f"Present: {counts.get('present')}")
    print(f"Hidden: {counts.get('hidden')}")


class ParticipantTracker(EventHandler):
    def on_participant_joined(self, participant: Any) -> None:
        user_name = participant.get("info", {}).get("userName", "Unknown")
        participant_id = participant.get("id")
        print(f"{user_name} joined (ID: {participant_id})")

    def on_participant_left(self, participant: Any, reason: str) -> None:
        user_name = participant.get("info", {}).get("userName", "Unknown")
        print(f"{user_name} left (reason: {reason})")

    def on_participant_updated(self, participant: Any) -> None:
        participant_id = participant.get("id")
        media = participant.get("media", {})
        # Check camera state
        camera_state = media.get("camera", {}).get("state")
        mic_state = media.get("microphone", {}).get("state")
        print(f"Participant {participant_id} updated:")
        print(f" Camera: {camera_state}")
        print(f" Microphone: {mic_state}")

    def on_participant_counts_updated(self, counts: dict[str, int]) -> None:
        print(f"Participant counts: {counts}")


def print_active_speaker(client: CallClient) -> None:
    # Get current active speaker
    active_speaker = client.active_speaker()
    if active_speaker:
        participant_id = active_speaker.get("participantId")
        print(f"Active speaker: {participant_id}")


class ActiveSpeakerTracker(EventHandler):
    def on_active_speaker_changed(self, participant: dict[str, Any]) -> None:
        participant_id = participant.get("participantId")
        if participant_id:
            print(f"Active speaker changed to: {participant_id}")
        else:
            print("No active speaker")


def on_update_complete(error: str | None) -> None:
    if error:
        print(f"Failed to update participants: {error}")
    else:
        print("Participants updated successfully")


def mute_one(client: CallClient, participant_id: str) -> asyncio.Task[Any]:
    # Mute a specific participant's microphone
    remote_participants = {
        participant_id: {
            "setAudio": False  # Mute their audio
        }
    }
    return client.update_remote_participants(
        remote_participants=remote_participants, completion=on_update_complete
    )


def update_many(client: CallClient, first: str, second: str) -> asyncio.Task[Any]:
    remote_participants = {
        first: {"setAudio": False, "setVideo": False},
        second: {"setAudio": True, "setVideo": True},
    }
    return client.update_remote_participants(
        remote_participants=remote_participants, completion=on_update_complete
    )


def on_eject_complete(error: str | None) -> None:
    if error:
        print(f"Failed to eject participants: {error}")
    else:
        print("Participants ejected successfully")


def eject(client: CallClient, participant_ids: list[str]) -> asyncio.Task[Any]:
    # Eject specific participants
    return client.eject_remote_participants(ids=participant_ids, completion=on_eject_complete)


def on_permissions_updated(error: str | None) -> None:
    if error:
        print(f"Failed to update permissions: {error}")
    else:
        print("Permissions updated successfully")


def no_screen_sharing(client: CallClient) -> asyncio.Task[Any]:
    # Set permissions for all participants
    permissions = {
        "canSend": ["camera", "microphone"],  # Disable screen sharing
        "canAdmin": False,
    }
    return client.update_permissions(permissions=permissions, completion=on_permissions_updated)


async def main() -> None:
    client = CallClient(event_handler=ParticipantTracker())
    await client.join(os.environ["GAVEL_URL"], os.environ["GAVEL_TOKEN"])
    list_all_participants(client)
    print_counts(client)
    print_active_speaker(client)
    await client.leave()


if __name__ == "__main__":
    asyncio.run(main())
