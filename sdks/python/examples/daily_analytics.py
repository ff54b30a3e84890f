"""Seed 001 — Daily's "Participant Analytics" example on Gavel: how long each participant
stays and how much of it they speak, from join/leave events and active-speaker changes.

Run: GAVEL_URL=… GAVEL_TOKEN=… python daily_analytics.py (it watches for WATCH_SECONDS, default
300, then prints the speaking ratios)."""

from __future__ import annotations

import asyncio
import os
import time
from datetime import timedelta
from typing import Any

from gavel import CallClient, EventHandler


class ParticipantAnalytics(EventHandler):
    def __init__(self) -> None:
        self.__client = CallClient(event_handler=self)
        self.__join_times: dict[str, float] = {}
        self.__speaking_times: dict[str, float] = {}
        self.__current_speaker: str | None = None
        self.__speaker_start_time: float | None = None

    def on_participant_joined(self, participant: Any) -> None:
        participant_id = participant.get("id")
        self.__join_times[participant_id] = time.time()
        self.__speaking_times[participant_id] = 0

    def on_participant_left(self, participant: Any, reason: str) -> None:
        participant_id = participant.get("id")
        if participant_id in self.__join_times:
            join_time = self.__join_times[participant_id]
            duration = time.time() - join_time
            speaking_time = self.__speaking_times.get(participant_id, 0)
            user_name = participant.get("info", {}).get("userName", "Unknown")
            print(f"\nParticipant {user_name} statistics:")
            print(f" Duration: {timedelta(seconds=int(duration))}")
            print(f" Speaking time: {timedelta(seconds=int(speaking_time))}")
            print(f" Speaking ratio: {(speaking_time / duration) * 100:.1f}%")

    def on_active_speaker_changed(self, participant: dict[str, Any]) -> None:
        current_time = time.time()
        # Update previous speaker's time
        if self.__current_speaker and self.__speaker_start_time:
            speaking_duration = current_time - self.__speaker_start_time
            self.__speaking_times[self.__current_speaker] = (
                self.__speaking_times.get(self.__current_speaker, 0) + speaking_duration
            )
        # Update current speaker
        self.__current_speaker = participant.get("participantId")
        self.__speaker_start_time = current_time if self.__current_speaker else None

    def get_analytics(self) -> list[dict[str, Any]]:
        """Get analytics for all participants"""
        current_time = time.time()
        analytics = []
        participants = self.__client.participants()
        for participant_id, participant in participants.items():
            if participant_id in self.__join_times:
                join_time = self.__join_times[participant_id]
                duration = current_time - join_time
                speaking_time = self.__speaking_times.get(participant_id, 0)
                # The speaker still talking counts up to now.
                if participant_id == self.__current_speaker and self.__speaker_start_time:
                    speaking_time += current_time - self.__speaker_start_time
                user_name = participant.get("info", {}).get("userName", "Unknown")
                analytics.append(
                    {
                        "name": user_name,
                        "duration": duration,
                        "speaking_time": speaking_time,
                        "speaking_ratio": (speaking_time / duration) if duration > 0 else 0,
                    }
                )
        return analytics

    async def start(self, url: str, token: str) -> None:
        await self.__client.join(url, token)

    async def stop(self) -> None:
        await self.__client.leave()


async def main() -> None:
    analytics = ParticipantAnalytics()
    await analytics.start(os.environ["GAVEL_URL"], os.environ["GAVEL_TOKEN"])
    # Get analytics
    await asyncio.sleep(float(os.environ.get("WATCH_SECONDS", "300")))  # Wait 5 minutes
    stats = analytics.get_analytics()
    for stat in stats:
        print(f"{stat['name']}: {stat['speaking_ratio'] * 100:.1f}% speaking time")
    await analytics.stop()


if __name__ == "__main__":
    asyncio.run(main())
