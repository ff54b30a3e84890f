"""LiveKit's Python client SDK (`livekit`, the realtime SDK over its native WebRTC library) joins
a Gavel room unchanged, beside native participants.

libwebrtc gathers no ICE candidates on loopback alone, so this runs inside `scripts/netns-run`
with the server bound to 10.77.0.1 (crates/gavel-server/tests/livekit_client.rs starts both).
Run it as a plain script: exit 0 on success, 1 with the reason on stderr otherwise.

1. ann joins natively and sends a 440 Hz tone from an aiortc peer; lk connects with LiveKit's
   SDK (its subscriber connection, which the server offers, reaches "connected"), sees ann,
   is subscribed to her microphone and decodes the tone;
2. the server's audio levels (from the packets of ann's tone) make ann the active speaker in
   lk's SDK, and the media sessions' loss and round trip time give an excellent connection
   quality; lk unsubscribes from ann's microphone and subscribes again, and hears it again;
3. RoomService `MutePublishedTrack` (LiveKit's server SDK) mutes ann: lk's SDK reports
   `track_muted`, and the tone stops reaching lk though ann's client keeps sending; ann
   unmutes herself and lk hears her on the same track (then she is muted again);
4. pub, a second LiveKit SDK client, publishes a generated 440 Hz track (AddTrackRequest, then
   its own offer on the publisher connection): the server names the track before any media,
   lk decodes the tone, and ann (native) sees the track carried by media under that name;
   data packets go from pub to lk and to ann (native), and from ann to pub only;
   a RoomService mute of pub's track reaches pub's own SDK (its local track is muted) and lk's;
   RoomService `UpdateParticipant` revoking publishing tells pub's SDK and unpublishes the
   track for lk and ann;
5. a mixed room: a native host and a LiveKit host (hana) moderate each other; hana uses Gavel's
   extras through LiveKit's data API (requests on `gavel.command`, events on `gavel.event`):
   mutes both ways (hana's SDK mutes its local track), a consent request to unmute accepted
   (its SDK unmutes), a refused request, a kick with a ban;
6. RoomService `MoveParticipant` moves lk into the mixed room: its SDK reports the move, sees
   who is there and hears hana's tone on its subscriber connection (carried along); then back;
7. ben joins natively: lk gets `participant_connected`; ben leaves: `participant_disconnected`;
8. RoomService `RemoveParticipant` removes lk: its SDK reports
   `disconnected` with reason PARTICIPANT_REMOVED, and ann sees lk leave, kicked.
"""

import asyncio
import base64
import json
import os
import sys
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
warnings.filterwarnings("ignore", message="The HMAC key is")

# First: it sets the server's address and credentials (the namespace's development server)
# that gavel_native reads.
import media_aiortc  # noqa: E402
import numpy as np  # noqa: E402
from livekit import api, rtc  # noqa: E402

from gavel_native import HTTP, KEY, SECRET, WS, Participant, native_token  # noqa: E402

# The room media_aiortc's members join.
ROOM = media_aiortc.ROOM
TIMEOUT = 45.0
WAIT = 10.0


def log(message):
    print(f"livekit_client: {message}", flush=True)


def lk_token(identity, room=ROOM, admin=False):
    """A LiveKit token; `roomAdmin` makes its holder a host in Gavel."""
    grants = api.VideoGrants(room_join=True, room=room, room_admin=admin)
    return (
        api.AccessToken(KEY, SECRET)
        .with_identity(identity)
        .with_name(identity)
        .with_grants(grants)
        .to_jwt()
    )


async def loud_frames(track, enough=media_aiortc.ENOUGH_FRAMES):
    """Reads `track` until `enough` decoded frames carry the tone (not silence)."""
    loud = 0
    stream = rtc.AudioStream(track)
    try:
        async for event in stream:
            samples = np.frombuffer(event.frame.data, dtype=np.int16).astype(np.float64)
            if samples.size and np.sqrt(np.mean(samples**2)) > media_aiortc.LOUD_RMS:
                loud += 1
                if loud >= enough:
                    return loud
    finally:
        await stream.aclose()
    return loud


async def hears(subscribed, identity):
    """Waits for a track of `identity` among `subscribed` ((identity, source, track) tuples)
    and returns the loud frames decoded from it."""
    while True:
        who, _, track = await asyncio.wait_for(subscribed.get(), WAIT)
        if who == identity:
            return await asyncio.wait_for(loud_frames(track), WAIT)


async def silent_for(track, seconds):
    """Loud frames decoded from `track` in `seconds` (0 when the tone is stopped)."""
    try:
        return await asyncio.wait_for(loud_frames(track, enough=10**9), seconds)
    except (asyncio.TimeoutError, TimeoutError):
        return 0


async def play_tone(source, stop):
    """Feeds `source` a 440 Hz tone in 10 ms frames until `stop` is set."""
    rate, n = 48000, 480
    t = 0
    while not stop.is_set():
        k = np.arange(t, t + n)
        pcm = (8000 * np.sin(2 * np.pi * 440 * k / rate)).astype(np.int16)
        frame = rtc.AudioFrame(pcm.tobytes(), rate, 1, n)
        await source.capture_frame(frame)
        t += n


async def publisher(service, lk_room, subscribed, ann):
    """pub publishes a generated tone with LiveKit's SDK; lk hears it; a server mute reaches
    pub's own SDK."""
    pub = rtc.Room()
    await asyncio.wait_for(pub.connect(WS, lk_token("pub")), WAIT)
    source = rtc.AudioSource(48000, 1)
    track = rtc.LocalAudioTrack.create_audio_track("pub-tone", source)
    stop = asyncio.Event()
    feeding = asyncio.ensure_future(play_tone(source, stop))
    options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
    publication = await asyncio.wait_for(
        pub.local_participant.publish_track(track, options), WAIT
    )
    assert publication.sid.startswith("TR_"), publication.sid
    log(f"pub published {publication.sid} with LiveKit's SDK")
    announced = await ann.wait_for("track_published", identity="pub")
    assert announced["track"]["sid"] == publication.sid, announced
    assert announced["track"]["media"] and announced["track"]["name"] == "pub-tone", announced
    loud = await hears(subscribed, "pub")
    log(f"lk decoded pub's tone ({loud} loud frames)")

    # Data both ways: pub's packet reaches lk (LiveKit) and ann (native) stamped with pub's
    # identity; ann's reaches pub.
    got_lk, got_pub = asyncio.Queue(), asyncio.Queue()
    lk_room.on(
        "data_received",
        lambda d: got_lk.put_nowait((d.participant.identity if d.participant else None, d.topic, d.data)),
    )
    pub.on(
        "data_received",
        lambda d: got_pub.put_nowait((d.participant.identity if d.participant else None, d.topic, d.data)),
    )
    await pub.local_participant.publish_data(b"hello from pub", topic="chat")
    assert await asyncio.wait_for(got_lk.get(), WAIT) == ("pub", "chat", b"hello from pub")
    native = await ann.wait_for("data_received", topic="chat")
    assert native["from"] == "pub", native
    assert base64.b64decode(native["payload"]) == b"hello from pub", native
    reply = base64.b64encode(b"hello from ann").decode()
    await ann.request("send_data", payload=reply, topic="chat", destination_identities=["pub"])
    assert await asyncio.wait_for(got_pub.get(), WAIT) == ("ann", "chat", b"hello from ann")
    assert got_lk.empty(), "ann's message was for pub only"
    log("data went from pub to lk and ann, and from ann to pub only")

    local_muted = asyncio.Event()
    pub.on(
        "track_muted",
        lambda p, pubn: local_muted.set() if p.identity == "pub" else None,
    )
    await service.room.mute_published_track(
        api.MuteRoomTrackRequest(
            room=ROOM, identity="pub", track_sid=publication.sid, muted=True
        )
    )
    await asyncio.wait_for(local_muted.wait(), WAIT)
    assert publication.muted
    log("the server's mute reached pub's own SDK")

    # RoomService revokes pub's right to publish: pub's SDK is told, and the track is
    # unpublished for lk and for pub itself.
    changed, gone_lk = asyncio.Event(), asyncio.Event()
    pub.on(
        "participant_permissions_changed",
        lambda p, perms: changed.set() if p.identity == "pub" and not perms.can_publish else None,
    )
    lk_room.on(
        "track_unpublished",
        lambda pubn, p: gone_lk.set() if p.identity == "pub" else None,
    )
    await service.room.update_participant(
        api.UpdateParticipantRequest(
            room=ROOM,
            identity="pub",
            permission=api.ParticipantPermission(
                can_subscribe=True, can_publish=False, can_publish_data=True
            ),
        )
    )
    await asyncio.wait_for(changed.wait(), WAIT)
    await asyncio.wait_for(gone_lk.wait(), WAIT)
    gone = await ann.wait_for("track_unpublished", identity="pub")
    assert gone["reason"] == "permission", gone
    # (LiveKit's Rust SDK, under the Python one, does not act on TrackUnpublishedResponse, so
    # pub's own SDK keeps the publication; the JavaScript SDK drops it, livekit.test.js.)
    log("revoking pub's publishing told its SDK and unpublished its track for everyone")
    stop.set()
    await feeding
    await pub.disconnect()


MIXED = "mixed"


async def mixed_room():
    """A native host and a LiveKit host moderate each other. hana (LiveKit's SDK) uses Gavel's
    extras through its data API: requests on `gavel.command`, answered on `gavel.response`,
    and the room's events that LiveKit has no message for on `gavel.event`."""
    nat = await Participant.connect(native_token(MIXED, "nat", role="host"))
    await nat.request("publish_track", source="microphone")
    hana = rtc.Room()
    packets = asyncio.Queue()
    hana.on(
        "data_received",
        lambda d: packets.put_nowait((d.topic, json.loads(d.data))) if d.topic.startswith("gavel.") else None,
    )
    local_mutes = asyncio.Queue()
    hana.on("track_muted", lambda p, pub: local_mutes.put_nowait(True) if p.identity == "hana" else None)
    hana.on("track_unmuted", lambda p, pub: local_mutes.put_nowait(False) if p.identity == "hana" else None)
    await asyncio.wait_for(hana.connect(WS, lk_token("hana", MIXED, admin=True)), WAIT)
    source = rtc.AudioSource(48000, 1)
    stop = asyncio.Event()
    feeding = asyncio.ensure_future(play_tone(source, stop))
    track = rtc.LocalAudioTrack.create_audio_track("hana-mic", source)
    options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
    mic = await asyncio.wait_for(hana.local_participant.publish_track(track, options), WAIT)
    await nat.wait_for("track_published", identity="hana")

    async def packet(topic, kind=None):
        while True:
            got_topic, body = await asyncio.wait_for(packets.get(), WAIT)
            if got_topic == topic and (kind is None or body.get("type") == kind):
                return body

    async def command(rid, **request):
        body = json.dumps({"id": rid, **request})
        await hana.local_participant.publish_data(body, topic="gavel.command")
        while True:
            response = await packet("gavel.response")
            if response["id"] == rid:
                return response

    # hana (LiveKit) mutes nat (native).
    response = await command(1, type="mute", identity="nat", source="microphone")
    assert response["ok"] and response["changed"] == 1, response
    muted = await nat.wait_for("track_muted", identity="nat")
    assert muted["by"] == "hana", muted
    log("hana (LiveKit) muted nat (native) on gavel.command")

    # nat mutes hana: hana's SDK mutes its local track, and gavel.event says who did it.
    await nat.request("mute", identity="hana", source="microphone", muted=True)
    assert await asyncio.wait_for(local_mutes.get(), WAIT) is True
    event = await packet("gavel.event", "track_muted")
    assert event["identity"] == "hana" and event["by"] == "nat", event
    log("nat (native) muted hana (LiveKit): its SDK and gavel.event say so")

    # nat asks hana to unmute: a consent request on gavel.event, accepted on gavel.command;
    # the server unmutes and hana's SDK unmutes its local track.
    await nat.request("request_media", identity="hana", source="microphone")
    asked = await packet("gavel.event", "media_requested")
    assert asked["from"] == "nat", asked
    response = await command(2, type="respond_request", request_id=asked["request_id"], accept=True)
    assert response["ok"], response
    while await asyncio.wait_for(local_mutes.get(), WAIT) is not False:
        pass  # a repeated mute from before
    resolved = await nat.wait_for("request_resolved", identity="hana")
    assert resolved["outcome"] == "accepted", resolved
    assert not mic.muted
    log("hana consented to nat's unmute request, and its SDK unmuted")

    # A refused request is answered with Gavel's error code.
    response = await command(3, type="end_session_now")
    assert not response["ok"] and response["error"]["code"] == "invalid_argument", response

    # hana removes nat with a ban.
    response = await command(4, type="kick", identity="nat", ban_seconds=60)
    assert response["ok"] and response["removed"], response
    left = await nat.wait_for("room_left")
    assert left["reason"] == "kicked" and left["by"] == "hana", left
    log("hana (LiveKit) removed nat (native)")
    return hana, stop, feeding


async def moved_and_back(service, room, subscribed):
    """RoomService moves lk to the mixed room, where hana plays a tone: lk's SDK reports the
    move, sees hana and hears her on its (carried) subscriber connection; then back."""
    moved = asyncio.Event()
    room.on("moved", lambda: moved.set())
    move = api.MoveParticipantRequest(room=ROOM, identity="lk", destination_room=MIXED)
    await service.room.move_participant(move)
    await asyncio.wait_for(moved.wait(), WAIT)
    assert room.name == MIXED, room.name
    others = sorted(p.identity for p in room.remote_participants.values())
    assert others == ["hana"], others
    loud = await hears(subscribed, "hana")
    log(f"lk was moved to {MIXED} and decoded hana's tone there ({loud} loud frames)")
    moved.clear()
    back = api.MoveParticipantRequest(room=MIXED, identity="lk", destination_room=ROOM)
    await service.room.move_participant(back)
    await asyncio.wait_for(moved.wait(), WAIT)
    assert room.name == ROOM, room.name
    assert "ann" in {p.identity for p in room.remote_participants.values()}
    log("lk was moved back")


async def scenario():
    member = await media_aiortc.Member.join("ann", tone=media_aiortc.Tone())
    ann = member.ws
    log("ann joined natively and sends a tone")

    room = rtc.Room()
    subscribed, speakers = asyncio.Queue(), asyncio.Queue()
    room.on(
        "track_subscribed",
        lambda track, pub, p: subscribed.put_nowait((p.identity, pub.source, track)),
    )
    room.on(
        "active_speakers_changed",
        lambda ss: speakers.put_nowait([s.identity for s in ss]),
    )
    connected = asyncio.Event()
    joined, left, disconnected = asyncio.Queue(), asyncio.Queue(), asyncio.Queue()
    room.on("participant_connected", lambda p: joined.put_nowait(p.identity))
    room.on(
        "participant_disconnected",
        lambda p: left.put_nowait((p.identity, p.disconnect_reason)),
    )
    room.on("disconnected", lambda reason: disconnected.put_nowait(reason))
    room.on("connected", lambda: connected.set())
    qualities = asyncio.Queue()
    room.on(
        "connection_quality_changed",
        lambda p, q: qualities.put_nowait((p.identity, q)),
    )
    await asyncio.wait_for(room.connect(WS, lk_token("lk")), WAIT)
    log(f"lk connected as {room.local_participant.sid}")
    others = sorted(p.identity for p in room.remote_participants.values())
    assert others == ["ann"], f"lk sees {others}"
    await ann.wait_for("participant_joined")
    who, source, track = await asyncio.wait_for(subscribed.get(), WAIT)
    assert (who, source) == ("ann", rtc.TrackSource.SOURCE_MICROPHONE), (who, source)
    loud = await asyncio.wait_for(loud_frames(track), WAIT)
    log(f"lk decoded ann's tone ({loud} loud frames)")

    while "ann" not in await asyncio.wait_for(speakers.get(), WAIT):
        pass
    log("ann is the active speaker in lk's SDK")

    # Connection quality from the media sessions' loss and round trip (batched every 5 s).
    while True:
        who, quality = await asyncio.wait_for(qualities.get(), WAIT)
        if who in ("ann", "lk") and quality == rtc.ConnectionQuality.QUALITY_EXCELLENT:
            break
    log(f"lk's SDK reports an excellent connection for {who}")


    # Unsubscribing and subscribing again (UpdateSubscription): the SDK gets the track back.
    unsubscribed = asyncio.Queue()
    room.on("track_unsubscribed", lambda track, pub, p: unsubscribed.put_nowait(p.identity))
    ann_mic = next(iter(room.remote_participants["ann"].track_publications.values()))
    ann_mic.set_subscribed(False)
    assert await asyncio.wait_for(unsubscribed.get(), WAIT) == "ann"
    ann_mic.set_subscribed(True)
    who, source, track = await asyncio.wait_for(subscribed.get(), WAIT)
    assert (who, source) == ("ann", rtc.TrackSource.SOURCE_MICROPHONE), (who, source)
    loud = await asyncio.wait_for(loud_frames(track), WAIT)
    log(f"lk unsubscribed from ann's microphone, subscribed again and decoded it ({loud} loud frames)")

    muted = asyncio.Queue()
    room.on("track_muted", lambda p, pub: muted.put_nowait((p.identity, pub.sid)))
    service = api.LiveKitAPI(HTTP, KEY, SECRET)
    mic = next(iter(member.tracks.values()))["sid"]
    await service.room.mute_published_track(
        api.MuteRoomTrackRequest(room=ROOM, identity="ann", track_sid=mic, muted=True)
    )
    assert await asyncio.wait_for(muted.get(), WAIT) == ("ann", mic)
    await asyncio.sleep(0.5)  # frames already on their way
    assert await member.packets_sent() > 0
    sent_before = await member.packets_sent()
    loud = await silent_for(track, 2.0)
    assert loud == 0, f"lk still hears ann after the mute ({loud} loud frames)"
    assert await member.packets_sent() > sent_before, "ann's client kept sending"
    log("the mute reached lk's SDK and silenced ann there")

    # Ann unmutes herself: the same track (it kept its line) carries the tone again.
    unmuted = asyncio.Queue()
    room.on("track_unmuted", lambda p, pub: unmuted.put_nowait((p.identity, pub.sid)))
    await ann.request("set_track_muted", track_sid=mic, muted=False)
    assert await asyncio.wait_for(unmuted.get(), WAIT) == ("ann", mic)
    loud = await asyncio.wait_for(loud_frames(track), WAIT)
    log(f"unmuted, lk hears ann again on the same track ({loud} loud frames)")
    await service.room.mute_published_track(
        api.MuteRoomTrackRequest(room=ROOM, identity="ann", track_sid=mic, muted=True)
    )
    assert await asyncio.wait_for(muted.get(), WAIT) == ("ann", mic)

    await publisher(service, room, subscribed, ann)
    hana, stop, feeding = await mixed_room()
    await moved_and_back(service, room, subscribed)
    stop.set()
    await feeding
    await hana.disconnect()

    # Others came and went before (pub, and everyone around the moves).
    ben = await Participant.connect(native_token(ROOM, "ben"))
    while await asyncio.wait_for(joined.get(), WAIT) != "ben":
        pass
    log("lk saw ben join")
    await ben.close()
    while True:
        who, reason = await asyncio.wait_for(left.get(), WAIT)
        if who == "ben":
            break
    log(f"lk saw ben leave ({reason})")

    try:
        await service.room.remove_participant(
            api.RoomParticipantIdentity(room=ROOM, identity="lk")
        )
    finally:
        await service.aclose()
    reason = await asyncio.wait_for(disconnected.get(), WAIT)
    assert reason == rtc.DisconnectReason.PARTICIPANT_REMOVED, reason
    log("lk was removed, and its SDK says so")
    # (ann saw lk leave with reason "moved" before, and come back.)
    gone = await ann.wait_for("participant_left", identity="lk", reason="kicked")
    assert gone["reason"] == "kicked", gone
    await member.close()


def main():
    try:
        asyncio.run(asyncio.wait_for(scenario(), TIMEOUT))
    except Exception as e:  # the reason, then a non-zero exit
        print(f"livekit_client: FAILED: {e!r}", file=sys.stderr, flush=True)
        raise SystemExit(1) from e
    log("ok")


if __name__ == "__main__":
    main()
