"""Seed 000 — VideoSDK's "Toggle Remote Participant Media" guide, on Gavel.

A host (a token whose role holds the mute and request_media controls: Gavel's `host`) asks a
participant to turn its microphone and camera on (`enable_mic()`, `enable_webcam()`: the
participant gets `on_mic_requested` / `on_webcam_requested` with `accept`, `reject` and the
asker's `participantId`), or turns them off (`disable_mic()`, `disable_webcam()`).

Run: GAVEL_URL=http://127.0.0.1:7880 GAVEL_TOKEN=<a host's join token> \
     python videosdk_remote_media.py
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from gavel import CallClient, MeetingEventHandler, Participant, ParticipantEventHandler, Stream


# Example 1: whenever a participant's stream is enabled, the host turns it off again.
class StreamGuard(ParticipantEventHandler):
    def __init__(self, participant: Participant):
        super().__init__()
        self.participant = participant

    def on_stream_enabled(self, stream: Stream) -> None:
        print(
            self.participant.id,
            "stream enabled ====",
            stream.kind,
        )
        if stream.kind == "audio":
            self.participant.disable_mic()

        if stream.kind == "video":
            self.participant.disable_webcam()


class DisableOnStream(MeetingEventHandler):
    def __init__(self) -> None:
        super().__init__()

    def on_participant_joined(self, participant: Participant) -> None:
        participant.add_event_listener(StreamGuard(participant=participant))


# Example 2: the host asks every newcomer to turn its microphone and camera on.
class AskOnJoin(MeetingEventHandler):
    def __init__(self) -> None:
        super().__init__()

    def on_participant_joined(self, participant: Participant) -> None:
        participant.enable_mic()
        participant.enable_webcam()


# Usage: the participant's side, accepting (or rejecting) the host's requests.
class AnswerRequests(MeetingEventHandler):
    def __init__(self, wanted_to_accept: bool = True) -> None:
        super().__init__()
        self.wanted_to_accept = wanted_to_accept

    def on_webcam_requested(self, data: dict[str, Any]) -> None:
        print("webcam requested by", data["participantId"])
        if self.wanted_to_accept:
            accept = data["accept"]
            accept()
        else:
            reject = data["reject"]
            reject()

    def on_mic_requested(self, data: dict[str, Any]) -> None:
        print("mic requested by", data["participantId"])
        if self.wanted_to_accept:
            accept = data["accept"]
            accept()
        else:
            reject = data["reject"]
            reject()


async def main() -> None:
    client = CallClient(event_handler=AskOnJoin())
    await client.join(os.environ["GAVEL_URL"], os.environ["GAVEL_TOKEN"])
    await client.wait_closed()


if __name__ == "__main__":
    asyncio.run(main())
