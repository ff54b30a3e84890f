"""Gavel's Python SDK (sdks/python) against a live server: every example of seeds 000
(VideoSDK's remote media controls) and 001 (Daily's participant management) as ported in
sdks/python/examples/, run with real participants, and what the SDK covers beyond them (the
waiting room, hands, breakout rooms, the lock, the session resuming, the server API and its
error codes)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from typing import Any

import daily_analytics
import daily_moderator
import daily_participants
import daily_permission_manager
import pytest
import videosdk_remote_media
from gavel import CallClient, EventHandler, GavelError, ServerApi, create_token

HTTP = os.environ["GAVEL_HTTP"]
KEY = os.environ["GAVEL_KEY"]
SECRET = os.environ["GAVEL_SECRET"]


def token(room: str, identity: str, role: str = "participant", **grants: Any) -> str:
    return create_token(
        KEY,
        SECRET,
        identity=identity,
        room=room,
        role=role,
        name=identity.capitalize(),
        **grants,
    )


def admin() -> ServerApi:
    return ServerApi(HTTP, create_token(KEY, SECRET, identity="admin", room_admin=True))


async def until(check: Callable[[], Any], what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"never: {what}")
        await asyncio.sleep(0.02)


async def join(
    room: str, identity: str, role: str = "participant", handler: Any = None
) -> CallClient:
    client = CallClient(event_handler=handler)
    await client.join(HTTP, token(room, identity, role))
    return client


def state(client: CallClient, identity: str, source: str) -> str | None:
    p = client.participant(identity)
    return p["media"][source]["state"] if p else None


class Recorder(EventHandler):
    """Every event, for assertions."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def on_event(self, event: dict[str, Any]) -> None:
        self.events.append(event)

    def kinds(self) -> list[str]:
        return [e["type"] for e in self.events]


# ----- seed 000: VideoSDK -----


def test_seed_000_example_2_and_usage_the_host_asks_and_the_participant_accepts(
    capsys: Any,
) -> None:
    async def scenario() -> None:
        host = await join("py-ask", "hana", "host", videosdk_remote_media.AskOnJoin())
        guest = await join(
            "py-ask", "ben", "participant", videosdk_remote_media.AnswerRequests(True)
        )
        await until(
            lambda: state(host, "ben", "microphone") == "playable", "ben's mic on"
        )
        await until(
            lambda: state(host, "ben", "camera") == "playable", "ben's camera on"
        )
        await guest.leave()
        await host.leave()

    asyncio.run(scenario())
    out = capsys.readouterr().out
    assert "mic requested by hana" in out
    assert "webcam requested by hana" in out


def test_seed_000_usage_a_rejected_request_leaves_the_media_off() -> None:
    class Host(videosdk_remote_media.AskOnJoin, Recorder):
        def __init__(self) -> None:
            videosdk_remote_media.AskOnJoin.__init__(self)
            Recorder.__init__(self)

    async def scenario() -> None:
        handler = Host()
        host = await join("py-reject", "hana", "host", handler)
        guest = await join(
            "py-reject",
            "ben",
            "participant",
            videosdk_remote_media.AnswerRequests(False),
        )
        outcomes = lambda: [
            e["outcome"] for e in handler.events if e["type"] == "request_resolved"
        ]
        await until(
            lambda: outcomes() == ["rejected", "rejected"], "both requests rejected"
        )
        assert state(host, "ben", "microphone") == "off"
        await guest.leave()
        await host.leave()

    asyncio.run(scenario())


def test_seed_000_example_1_a_stream_enabled_is_disabled_by_the_host(
    capsys: Any,
) -> None:
    async def scenario() -> None:
        host = await join(
            "py-guard", "hana", "host", videosdk_remote_media.DisableOnStream()
        )
        guest = await join("py-guard", "ben")
        await until(lambda: host.participant("ben") is not None, "hana sees ben")
        await guest.publish("microphone")
        await guest.publish("camera")
        await until(
            lambda: state(guest, "ben", "microphone") == "off",
            "ben's mic muted by hana",
        )
        await until(
            lambda: state(guest, "ben", "camera") == "off", "ben's camera muted by hana"
        )
        muted_by = {t["source"]: t.get("muted_by") for t in guest.local.raw["tracks"]}  # type: ignore[union-attr]
        assert muted_by == {"microphone": "hana", "camera": "hana"}
        await guest.leave()
        await host.leave()

    asyncio.run(scenario())
    out = capsys.readouterr().out
    assert "ben stream enabled ==== audio" in out
    assert "ben stream enabled ==== video" in out


# ----- seed 001: Daily -----


def test_seed_001_snippets_list_counts_events_speaker_updates_eject_permissions(
    capsys: Any,
) -> None:
    async def scenario() -> None:
        host = await join(
            "py-daily", "hana", "host", daily_participants.ParticipantTracker()
        )
        ann = await join("py-daily", "ann")
        bob = await join("py-daily", "bob")
        await until(lambda: len(host.participants()) == 3, "three present")
        daily_participants.list_all_participants(host)
        daily_participants.print_counts(host)

        # The active speaker, from ann's levels.
        speakers = CallClient(event_handler=daily_participants.ActiveSpeakerTracker())
        await speakers.join(HTTP, token("py-daily", "sam", "viewer"))
        await ann.publish("microphone")
        for _ in range(30):
            await ann.audio_level(20)
            await asyncio.sleep(0.05)
        await until(
            lambda: host.active_speaker() == {"participantId": "ann"}, "ann speaks"
        )
        daily_participants.print_active_speaker(host)

        # Updates: one, then several; a participant who may not send is not asked.
        await bob.publish("microphone")
        await until(
            lambda: state(host, "bob", "microphone") == "playable", "bob's mic on"
        )
        await daily_participants.mute_one(host, "bob")
        await until(lambda: state(bob, "bob", "microphone") == "off", "bob muted")
        await daily_participants.update_many(host, "ann", "bob")
        await until(lambda: state(ann, "ann", "microphone") == "off", "ann muted")

        # Permissions for everyone else: no screen sharing.
        await daily_participants.no_screen_sharing(host)
        await until(
            lambda: (
                ann.local is not None
                and sorted(ann.local["permissions"]["canSend"])
                == ["camera", "microphone"]
            ),
            "ann may send camera and microphone only",
        )
        with pytest.raises(GavelError) as refused:
            await ann.publish("screen_video")
        assert refused.value.code == "permission_denied"

        # Eject.
        await daily_participants.eject(host, ["bob"])
        await bob.wait_closed()
        assert bob.left == "kicked"
        await daily_participants.eject(host, ["nobody"])
        for c in (speakers, ann, host):
            await c.leave()

    asyncio.run(scenario())
    out = capsys.readouterr().out
    for line in [
        "Name: Hana",
        "Is local: True",
        "Owner: True",
        "Present: 3",
        "Hidden: 0",
        "Ann joined (ID: ann)",
        "Active speaker changed to: ann",
        "Active speaker: ann",
        "Participants updated successfully",
        "Permissions updated successfully",
        "Participants ejected successfully",
        "Bob left (reason: kicked)",
        "Failed to eject participants: nobody",
    ]:
        assert line in out, f"{line!r} not in:\n{out}"


def test_seed_001_meeting_moderator(capsys: Any) -> None:
    async def scenario() -> None:
        ann = await join("py-mod", "ann")
        await ann.publish("microphone")
        moderator = daily_moderator.MeetingModerator()
        await moderator.start(HTTP, token("py-mod", "hana", "host"))
        bob = await join("py-mod", "bob")
        await bob.publish("microphone")
        await asyncio.sleep(0.3)
        moderator.list_participants()
        await moderator.mute_participant("ann")
        await until(lambda: state(ann, "ann", "microphone") == "off", "ann muted")
        task = moderator.mute_all()
        assert task is not None
        await task
        await until(lambda: state(bob, "bob", "microphone") == "off", "bob muted")
        await moderator.kick_participant("bob")
        await bob.wait_closed()
        await asyncio.sleep(0.2)
        await moderator.stop()
        await ann.leave()

    asyncio.run(scenario())
    out = capsys.readouterr().out
    for line in [
        "✓ Bob joined the meeting",
        "Current participants:",
        " Ann ",
        " Camera: off, Mic: playable",
        "Muted ann",
        "Muted all participants",
        "Ejected bob",
        "✗ Bob left (kicked)",
    ]:
        assert line in out, f"{line!r} not in:\n{out}"


def test_seed_001_participant_analytics(capsys: Any) -> None:
    async def scenario() -> None:
        analytics = daily_analytics.ParticipantAnalytics()
        await analytics.start(HTTP, token("py-stats", "hana", "host"))
        ann = await join("py-stats", "ann")
        bob = await join("py-stats", "bob")
        await ann.publish("microphone")
        for _ in range(30):
            await ann.audio_level(15)
            await asyncio.sleep(0.05)
        stats = {s["name"]: s for s in analytics.get_analytics()}
        assert stats["Ann"]["speaking_time"] > 0.2, stats
        assert stats["Bob"]["speaking_time"] == 0, stats
        assert 0 < stats["Ann"]["speaking_ratio"] <= 1
        await ann.leave()
        await asyncio.sleep(0.3)
        await bob.leave()
        await analytics.stop()

    asyncio.run(scenario())
    out = capsys.readouterr().out
    assert "Participant Ann statistics:" in out
    assert "Speaking ratio:" in out


def test_seed_001_automatic_permission_management(capsys: Any) -> None:
    async def scenario() -> None:
        manager = daily_permission_manager.PermissionManager(max_speakers=2)
        await manager.start(HTTP, token("py-perm", "hana", "host"))
        ann = await join("py-perm", "ann")
        await until(
            lambda: "Opened permissions" in capsys.readouterr().out, "opened for two"
        )
        bob = await join("py-perm", "bob")
        await until(
            lambda: ann.local is not None and ann.local["permissions"]["canSend"] == [],
            "restricted past two",
        )
        await bob.leave()
        await until(
            lambda: (
                ann.local is not None and len(ann.local["permissions"]["canSend"]) == 4
            ),
            "opened again",
        )
        await ann.leave()
        await manager.stop()

    asyncio.run(scenario())


# ----- beyond the seeds: what a client can do -----


def test_the_waiting_room_hands_lock_and_breakouts_through_the_sdk() -> None:
    async def scenario() -> None:
        api = admin()
        await api.create_room("py-wr", waiting_room={"enabled": True})
        seen = Recorder()
        host = await join("py-wr", "hana", "host", seen)
        guest = CallClient()
        await guest.join(HTTP, token("py-wr", "wes"))
        assert guest.is_waiting and guest.waiting is not None
        await until(
            lambda: [w["identity"] for w in host.waiters] == ["wes"], "hana sees wes"
        )
        assert [w["identity"] for w in await api.waiting("py-wr")] == ["wes"]
        results = await host.admit(["wes"])
        assert results["wes"]["ok"]
        await until(lambda: guest.local is not None, "wes admitted")
        assert not guest.is_waiting

        await guest.raise_hand()
        await until(lambda: host.hands == ["wes"], "wes's hand seen")

        await host.lock()
        with pytest.raises(GavelError) as locked:
            await join("py-wr", "zed")
        assert locked.value.code == "room_locked"

        opened = await host.open_breakouts(count=1, countdown_seconds=0)
        assert opened["rooms"][0]["identities"] == ["wes"]
        await until(lambda: guest.room == "py-wr-breakout-1", "wes in the breakout")
        await host.broadcast_to_breakouts("back soon")
        await host.close_breakouts()
        await until(lambda: guest.room == "py-wr", "wes back, through the lock")
        await guest.leave()
        await host.leave()

    asyncio.run(scenario())


def test_a_broken_connection_resumes_the_same_session() -> None:
    async def scenario() -> None:
        watching = Recorder()
        host = await join("py-resume", "hana", "host", watching)
        seen = Recorder()
        ben = await join("py-resume", "ben", "participant", seen)
        sid = ben.sid
        assert ben._ws is not None
        ben._ws.transport.abort()  # the network breaks: no close frame
        await until(lambda: ben.resumes == 1, "ben resumed")
        assert ben.sid == sid and ben.left is None
        await host.request({"type": "send_data", "payload": "aGk="})
        await until(lambda: "data_received" in seen.kinds(), "ben hears the room again")
        assert "participant_left" not in watching.kinds(), "nobody saw ben leave"
        await ben.leave()
        await host.leave()

    asyncio.run(scenario())


def test_the_server_api_and_its_error_codes() -> None:
    async def scenario() -> None:
        api = admin()
        room = await api.create_room("py-api", remote_unmute="force")
        assert room["settings"]["remote_unmute"] == "force"
        ben = await join("py-api", "ben")
        assert [p["identity"] for p in await api.list_participants("py-api")] == ["ben"]
        removed = await api.remove_participant("py-api", "ben", ban_seconds=60)
        assert removed["removed"] is True
        await ben.wait_closed()
        bans = await api.list_bans("py-api")
        assert [b["identity"] for b in bans] == ["ben"]
        # Audit entries are written in batches: look until it is there.
        for _ in range(100):
            if any(e["action"] == "kick" for e in await api.audit("py-api")):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the removal is not in the audit log")
        with pytest.raises(GavelError) as banned:
            await join("py-api", "ben")
        assert banned.value.code == "banned"
        await api.lift_ban("py-api", "ben")
        with pytest.raises(GavelError) as missing:
            await api.get_participant("py-api", "nobody")
        assert (missing.value.code, missing.value.status) == ("not_found", 404)
        with pytest.raises(GavelError) as bad:
            await api.create_room("py-api-2", no_such_setting=1)
        assert (bad.value.code, bad.value.status) == ("invalid_argument", 400)
        await api.add_webhook(
            "py-hook", "http://127.0.0.1:9/hook", ["participant_joined"]
        )
        assert "py-hook" in [w["name"] for w in await api.list_webhooks()]
        await api.remove_webhook("py-hook")
        await api.delete_room("py-api")
        with pytest.raises(GavelError) as gone:
            await api.get_room("py-api")
        assert gone.value.code == "not_found"

    asyncio.run(scenario())


def test_the_stage_and_the_last_host_leaving_through_the_sdk() -> None:
    class Guest(Recorder):
        def on_stage_invited(self, data: dict[str, Any]) -> None:
            self.invited_by = data["participantId"]
            data["accept"]()

    async def scenario() -> None:
        await admin().create_room(
            "py-stage", host_left={"action": "end", "grace_seconds": 1}
        )
        host = await join("py-stage", "hana", "host")
        guest_events = Guest()
        guest = await join("py-stage", "vic", "viewer", guest_events)
        await until(lambda: host.participant("vic") is not None, "vic there")
        vic = host.participant("vic")
        assert vic is not None
        await vic.invite_to_stage()
        await until(lambda: host.stage == ["vic"], "vic on the stage")
        assert guest_events.invited_by == "hana"
        await until(
            lambda: (
                guest.local is not None
                and "microphone" in guest.local.raw["permissions"]["can_send"]
            ),
            "the stage lets vic speak",
        )
        await host.leave()
        await until(
            lambda: "host_left" in guest_events.kinds(), "vic told the host left"
        )
        await guest.wait_closed()
        assert guest.left == "host_left"

    asyncio.run(scenario())


def test_update_remote_participants_with_everyone_and_subscribed_tracks() -> None:
    async def scenario() -> None:
        seen = Recorder()
        host = await join("py-star", "hana", "host", seen)
        ann = await join("py-star", "ann")
        bob = await join("py-star", "bob")
        for c in (ann, bob):
            await c.publish("microphone")
        await until(
            lambda: (
                state(host, "ann", "microphone") == "playable"
                and state(host, "bob", "microphone") == "playable"
            ),
            "both on",
        )
        # "*": everyone else; one summary mute event, the host's own mic untouched.
        await host.publish("microphone")
        await host.update_remote_participants({"*": {"setAudio": False}})
        await until(
            lambda: (
                state(ann, "ann", "microphone") == "off"
                and state(bob, "bob", "microphone") == "off"
            ),
            "everyone else muted",
        )
        assert state(host, "hana", "microphone") == "playable"
        # What this client receives from ann: nothing of her microphone, then again.
        await host.update_remote_participants(
            {"ann": {"setSubscribedTracks": {"audio": False}}}
        )
        await host.update_remote_participants({"ann": {"setSubscribedTracks": True}})
        for c in (ann, bob, host):
            await c.leave()

    asyncio.run(scenario())
