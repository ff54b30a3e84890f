"""Seed 002 (LiveKit "Participant management") run unchanged through LiveKit's own Python server
SDK (`livekit-api` from PyPI) against a live Gavel server, with a native participant asserting
the events each call causes."""

import asyncio
import json

import aiohttp
import pytest
from livekit import api
from livekit.api import (
    CreateRoomRequest,
    DeleteRoomRequest,
    ListParticipantsRequest,
    ListRoomsRequest,
    MoveParticipantRequest,
    MuteRoomTrackRequest,
    ParticipantPermission,
    RoomParticipantIdentity,
    SendDataRequest,
    UpdateParticipantRequest,
    UpdateRoomMetadataRequest,
)
from livekit.api.twirp_client import TwirpError

from gavel_native import HTTP, KEY, SECRET, JoinRefused, Participant, native_token

ROOM = "seed-002"


def lk_token(room, identity, can_publish=True, name=None):
    """A join token minted by LiveKit's own AccessToken builder."""
    grants = api.VideoGrants(room_join=True, room=room, can_publish=can_publish, can_subscribe=True)
    return (
        api.AccessToken(KEY, SECRET)
        .with_identity(identity)
        .with_name(name or identity)
        .with_grants(grants)
        .to_jwt()
    )


def lkapi():
    # failover=False: a single loopback server has no other regions to try.
    return api.LiveKitAPI(HTTP, KEY, SECRET, failover=False)


async def create_native_room(name, **settings):
    """Gavel's own server API, for settings LiveKit's CreateRoom cannot express."""
    admin = api.AccessToken(KEY, SECRET).with_grants(
        api.VideoGrants(room_create=True, room_list=True, room_admin=True)
    )
    async with aiohttp.ClientSession() as s:
        async with s.post(
            f"{HTTP}/v1/rooms",
            json={"name": name, **settings},
            headers={"Authorization": f"Bearer {admin.to_jwt()}"},
        ) as r:
            assert r.status in (200, 201), await r.text()


def run(coro):
    asyncio.run(coro)


def test_seed_002_participant_management():
    run(seed_002())


async def seed_002():
    async with lkapi() as lkapi_:
        room = await lkapi_.room.create_room(CreateRoomRequest(name=ROOM, max_participants=20))
        assert room.name == ROOM and room.max_participants == 20

        # An audience member joins with a LiveKit-minted token (can_publish false); a host
        # watches with a native token.
        host = await Participant.connect(native_token(ROOM, "host", role="host"))
        audience = await Participant.connect(lk_token(ROOM, "aud", can_publish=False, name="Aud"))
        assert audience.joined["self"]["permissions"]["can_send"] == []
        await host.wait_for("participant_joined")

        # List Participants
        res = await lkapi_.room.list_participants(ListParticipantsRequest(room=ROOM))
        assert sorted(p.identity for p in res.participants) == ["aud", "host"]

        # Get details on a Participant
        p = await lkapi_.room.get_participant(RoomParticipantIdentity(room=ROOM, identity="aud"))
        assert p.identity == "aud" and p.name == "Aud"
        assert p.state == api.ParticipantInfo.State.ACTIVE
        assert p.permission.can_subscribe and not p.permission.can_publish
        assert p.joined_at > 0 and p.sid

        # Updating permissions: promote the audience member to a speaker...
        p = await lkapi_.room.update_participant(
            UpdateParticipantRequest(
                room=ROOM,
                identity="aud",
                permission=ParticipantPermission(
                    can_subscribe=True, can_publish=True, can_publish_data=True
                ),
            )
        )
        assert p.permission.can_publish
        changed = await audience.wait_for("permissions_changed")
        assert "microphone" in changed["permissions"]["can_send"]
        published = await audience.request("publish_track", source="microphone")
        assert published["ok"], published
        track_sid = published["track"]["sid"]
        await host.wait_for("track_published")

        # ...and later move them back to audience: their tracks are unpublished.
        p = await lkapi_.room.update_participant(
            UpdateParticipantRequest(
                room=ROOM,
                identity="aud",
                permission=ParticipantPermission(
                    can_subscribe=True, can_publish=False, can_publish_data=True
                ),
            )
        )
        assert not p.permission.can_publish and len(p.tracks) == 0
        gone = await host.wait_for("track_unpublished", track_sid=track_sid)
        assert gone["reason"] == "permission"
        changed = await audience.wait_for("permissions_changed")
        assert changed["permissions"]["can_send"] == []

        # Updating metadata: connected clients get the change.
        p = await lkapi_.room.update_participant(
            UpdateParticipantRequest(room=ROOM, identity="aud", metadata=json.dumps({"some": "values"}))
        )
        assert json.loads(p.metadata) == {"some": "values"}
        updated = await host.wait_for("participant_updated", changed=["metadata"])
        assert json.loads(updated["participant"]["metadata"]) == {"some": "values"}

        # Mute a participant's track: find the TrackSid with GetParticipant first.
        speaker = await Participant.connect(lk_token(ROOM, "spk", name="Speaker"))
        track = await speaker.request("publish_track", source="microphone")
        assert track["ok"], track
        p = await lkapi_.room.get_participant(RoomParticipantIdentity(room=ROOM, identity="spk"))
        assert [t.sid for t in p.tracks] == [track["track"]["sid"]]
        assert p.tracks[0].source == api.TrackSource.MICROPHONE
        assert p.tracks[0].type == api.TrackType.AUDIO
        assert p.is_publisher
        res = await lkapi_.room.mute_published_track(
            MuteRoomTrackRequest(room=ROOM, identity="spk", track_sid=p.tracks[0].sid, muted=True)
        )
        assert res.track.muted
        muted = await speaker.wait_for("track_muted", identity="spk")
        assert muted["muted"] and muted["by"]

        # Unmuting follows the room's policy; the default asks the participant.
        res = await lkapi_.room.mute_published_track(
            MuteRoomTrackRequest(room=ROOM, identity="spk", track_sid=p.tracks[0].sid, muted=False)
        )
        assert res.track.muted, "still muted until the participant accepts"
        ask = await speaker.wait_for("media_requested", source="microphone")
        await speaker.request("respond_request", request_id=ask["request_id"], accept=True)
        unmuted = await host.wait_for("track_muted", identity="spk", muted=False)
        assert unmuted["track_sid"] == p.tracks[0].sid

        # Room metadata and data messages reach the clients.
        room = await lkapi_.room.update_room_metadata(
            UpdateRoomMetadataRequest(room=ROOM, metadata="agenda: launch")
        )
        assert room.metadata == "agenda: launch"
        updated = await speaker.wait_for("room_updated")
        assert updated["room"]["settings"]["metadata"] == "agenda: launch"
        await lkapi_.room.send_data(
            SendDataRequest(
                room=ROOM,
                data=b"hello",
                kind=api.DataPacket.Kind.RELIABLE,
                destination_identities=["spk"],
                topic="chat",
            )
        )
        data = await speaker.wait_for("data_received")
        assert data["payload"] == "aGVsbG8=" and data["topic"] == "chat"

        # Move a Participant: works here (LiveKit's open-source server lacks it).
        await lkapi_.room.move_participant(
            MoveParticipantRequest(room=ROOM, identity="aud", destination_room="seed-002-b")
        )
        moved = await audience.wait_for("moved")
        assert moved["room"] == "seed-002-b"
        joined = await audience.wait_for("joined")
        assert joined["room"]["name"] == "seed-002-b"
        left = await host.wait_for("participant_left", identity="aud")
        assert left["reason"] == "moved"
        res = await lkapi_.room.list_participants(ListParticipantsRequest(room="seed-002-b"))
        assert [p.identity for p in res.participants] == ["aud"]

        # Remove a Participant: disconnected, and its token no longer works.
        spk_token = lk_token(ROOM, "spk", name="Speaker")
        await lkapi_.room.remove_participant(RoomParticipantIdentity(room=ROOM, identity="spk"))
        bye = await speaker.wait_for("room_left")
        assert bye["reason"] == "kicked"
        left = await host.wait_for("participant_left", identity="spk")
        assert left["reason"] == "kicked"
        # A token minted before the removal is void, even one never used.
        with pytest.raises(JoinRefused) as refused:
            await Participant.connect(spk_token)
        assert refused.value.code == "unauthenticated"

        # Errors arrive as LiveKit's Twirp errors.
        with pytest.raises(TwirpError) as e:
            await lkapi_.room.get_participant(RoomParticipantIdentity(room=ROOM, identity="nobody"))
        assert e.value.code == "not_found"

        rooms = await lkapi_.room.list_rooms(ListRoomsRequest(names=[ROOM, "seed-002-b"]))
        assert sorted(r.name for r in rooms.rooms) == [ROOM, "seed-002-b"]
        await lkapi_.room.delete_room(DeleteRoomRequest(room="seed-002-b"))
        deleted = await audience.wait_for("room_left")
        assert deleted["reason"] == "room_deleted"
        for c in (host, speaker, audience):
            await c.close()


def test_remote_unmute_off_is_failed_precondition():
    run(remote_unmute_off())


async def remote_unmute_off():
    await create_native_room("seed-002-off", remote_unmute="off")
    guest = await Participant.connect(lk_token("seed-002-off", "guest"))
    track = (await guest.request("publish_track", source="microphone", muted=True))["track"]
    async with lkapi() as lkapi_:
        with pytest.raises(TwirpError) as e:
            await lkapi_.room.mute_published_track(
                MuteRoomTrackRequest(
                    room="seed-002-off", identity="guest", track_sid=track["sid"], muted=False
                )
            )
        assert e.value.code == "failed_precondition"
        assert e.value.message == "remote unmute not enabled"
    await guest.close()


def test_bad_credentials_are_refused():
    run(bad_credentials())


async def bad_credentials():
    async with api.LiveKitAPI(HTTP, KEY, "not-the-secret", failover=False) as bad:
        with pytest.raises(TwirpError) as e:
            await bad.room.list_rooms(ListRoomsRequest())
        assert e.value.code == "unauthenticated"
