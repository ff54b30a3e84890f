"""Seed 001 — Daily's "Automatic Permission Management" example on Gavel: past
`max_speakers` participants, everyone else may send nothing; below it, everything.

Run: GAVEL_URL=… GAVEL_TOKEN=<a host's join token> python daily_permission_manager.py"""

from __future__ import annotations

import asyncio
import os

from gavel import CallClient, EventHandler


class PermissionManager(EventHandler):
    def __init__(self, max_speakers: int = 5) -> None:
        self.__client = CallClient(event_handler=self)
        self.__max_speakers = max_speakers

    def on_participant_counts_updated(self, counts: dict[str, int]) -> None:
        present = counts.get("present", 0)
        # If too many participants, restrict permissions
        if present > self.__max_speakers:
            self.restrict_permissions()
        else:
            self.open_permissions()

    def restrict_permissions(self) -> None:
        """Restrict new participants to view-only"""
        permissions = {
            "canSend": [],  # No sending allowed by default
            "canAdmin": False,
        }
        self.__client.update_permissions(
            permissions=permissions,
            completion=lambda error: (
                print("Restricted permissions for new participants")
                if not error
                else print(f"Failed to restrict: {error}")
            ),
        )

    def open_permissions(self) -> None:
        """Allow all participants to send media"""
        permissions = {
            "canSend": ["camera", "microphone", "screenVideo", "screenAudio"],
            "canAdmin": False,
        }
        self.__client.update_permissions(
            permissions=permissions,
            completion=lambda error: (
                print("Opened permissions for all participants")
                if not error
                else print(f"Failed to open: {error}")
            ),
        )

    async def start(self, url: str, token: str) -> None:
        await self.__client.join(url, token)

    async def stop(self) -> None:
        await self.__client.leave()


async def main() -> None:
    manager = PermissionManager(max_speakers=5)
    await manager.start(os.environ["GAVEL_URL"], os.environ["GAVEL_TOKEN"])
    await asyncio.sleep(float(os.environ.get("WATCH_SECONDS", "3600")))
    await manager.stop()


if __name__ == "__main__":
    asyncio.run(main())
