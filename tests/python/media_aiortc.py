"""The media plane end to end with a third-party WebRTC stack: two aiortc peers exchange real Opus
audio through Gavel's SFU, and a host mute stops the packets while the sender keeps sending.

aiortc gathers no ICE candidates on loopback alone, so this runs inside `scripts/netns-run`
with the server bound to 10.77.0.1 (crates/gavel-server/tests/media_aiortc.rs starts both).
Run it as a plain script (exit 0 on success, 1 with the reason on stderr otherwise) or with
pytest. The server's WebSocket address comes from GAVEL_WS (default ws://10.77.0.1:7880).

    host (no media)   ann: sends a 440 Hz tone, offers 1 receive slot   ben: offers 2 receive slots

1. ben decodes ann's tone on the slot `media_slots` names;
2. the host mutes ann's microphone: ann's client keeps sending, ben decodes nothing more;
3. ann unmutes herself: ben decodes the tone again.
"""

import asyncio
import fractions
import math
import os
import sys
import time
import warnings

# gavel_native reads these when imported; the defaults are the development server in the
# namespace (`gavel dev --bind 10.77.0.1:7880`, key `devkey` / secret `secret`).
os.environ.setdefault("GAVEL_WS", "ws://10.77.0.1:7880")
os.environ.setdefault("GAVEL_HTTP", os.environ["GAVEL_WS"].replace("ws", "http", 1))
os.environ.setdefault("GAVEL_KEY", "devkey")
os.environ.setdefault("GAVEL_SECRET", "secret")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# The development secret is short by design; PyJWT's warning about it is only noise here.
warnings.filterwarnings("ignore", message="The HMAC key is")

import numpy as np  # noqa: E402
from aiortc import (  # noqa: E402
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError  # noqa: E402
from aiortc.sdp import candidate_from_sdp  # noqa: E402
from av import AudioFrame  # noqa: E402

from gavel_native import Participant, native_token  # noqa: E402

ROOM = "m"
# The whole scenario; the Rust test also bounds the process from outside.
TIMEOUT = 45.0
# Upper bound for "this happens" (connecting, audio arriving); never a timing assertion.
WAIT = 10.0
# Audio frames aiortc decodes are 20 ms: 50 loud frames are a second of the tone.
ENOUGH_FRAMES = 50
# A decoded frame counts as the tone (not silence or comfort noise) above this RMS (s16 scale);
# the tone is sent at about 7,000.
LOUD_RMS = 1000.0


def log(message):
    print(f"media_aiortc: {message}", flush=True)


class Tone(MediaStreamTrack):
    """A microphone that plays a 440 Hz sine: 20 ms frames of 48 kHz mono s16, paced in real
    time (like aiortc's AudioStreamTrack), so the Opus encoder sees a live source. aiortc adds
    the ssrc-audio-level header extension (RFC 6464) to every packet it sends from it."""

    kind = "audio"
    RATE = 48000
    SAMPLES = 960  # 20 ms

    def __init__(self):
        super().__init__()
        self._start = None
        self._pts = 0
        self._amplitude = 0.3 * 32767

    async def recv(self):
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        else:
            self._pts += self.SAMPLES
            await asyncio.sleep(self._start + self._pts / self.RATE - time.monotonic())
        # From the running sample count, so the sine is continuous across frames (20 ms is not
        # a whole number of periods).
        t = (self._pts + np.arange(self.SAMPLES)) / self.RATE
        samples = (self._amplitude * np.sin(2 * math.pi * 440.0 * t)).astype(np.int16)
        frame = AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = self.RATE
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, self.RATE)
        return frame


class Meter:
    """Reads every frame a remote track decodes and counts them, and the loud ones."""

    def __init__(self, mid, track):
        self.mid = mid
        self.frames = 0
        self.loud = 0
        self._task = asyncio.ensure_future(self._read(track))

    async def _read(self, track):
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return  # the track ended (the connection closed)
            self.frames += 1
            pcm = frame.to_ndarray().astype(np.float64)
            if math.sqrt(np.mean(pcm * pcm)) > LOUD_RMS:
                self.loud += 1

    def stop(self):
        self._task.cancel()


class Member:
    """A participant with an aiortc peer connection whose media session Gavel answered."""

    def __init__(self, identity, ws, pc):
        self.identity = identity
        self.ws = ws
        self.pc = pc
        self.tracks = {}  # mid → TrackInfo of what this member publishes
        self.meters = {}  # mid → Meter, one per receive slot

    @classmethod
    async def join(cls, identity, tone=None, slots=0):
        ws = await Participant.connect(native_token(ROOM, identity, role="participant"))
        # No ICE servers: aiortc would otherwise try Google's STUN server. Host candidates on
        # the namespace's veth addresses are all that is needed (and all that is reachable).
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        member = cls(identity, ws, pc)
        sending = pc.addTransceiver(tone, direction="sendonly") if tone else None
        slot_transceivers = [pc.addTransceiver("audio", direction="recvonly") for _ in range(slots)]

        # The whole offer at once: Gavel takes candidates in the SDP, so wait for gathering to
        # finish rather than trickling them with `media_candidate`.
        await pc.setLocalDescription(await pc.createOffer())
        await wait_until(lambda: pc.iceGatheringState == "complete", f"{identity}'s ICE gathering")
        offer = pc.localDescription.sdp
        if "a=candidate" not in offer:
            raise AssertionError(f"{identity}'s offer has no ICE candidates:\n{offer}")

        tracks = [{"mid": sending.mid, "source": "microphone"}] if sending else []
        reply = await ws.request("media_offer", sdp=offer, tracks=tracks)
        if not reply.get("ok"):
            raise AssertionError(f"{identity}'s media_offer was refused: {reply}\noffer:\n{offer}")
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=reply["sdp"], type="answer"))
        except Exception as e:
            raise AssertionError(
                f"aiortc cannot apply the answer to {identity}'s offer ({e!r}):\n{reply['sdp']}"
            ) from e
        await add_answer_candidates(pc, reply["sdp"])
        member.tracks = {t["mid"]: t["track"] for t in reply.get("tracks", [])}
        if sending and sending.mid not in member.tracks:
            raise AssertionError(f"{identity}'s microphone was not published: {reply}")
        for t in slot_transceivers:
            member.meters[t.mid] = Meter(t.mid, t.receiver.track)
        await wait_until(
            lambda: pc.connectionState in ("connected", "failed", "closed"),
            f"{identity}'s connection",
        )
        if pc.connectionState != "connected":
            raise AssertionError(f"{identity}'s peer connection is {pc.connectionState}")
        log(f"{identity} connected ({len(tracks)} sent, {slots} receive slots)")
        return member

    def frames(self):
        """Frames decoded so far, per receive slot."""
        return {mid: m.frames for mid, m in self.meters.items()}

    async def packets_sent(self):
        """RTP packets aiortc has sent on this member's sending transceivers."""
        total = 0
        for t in self.pc.getTransceivers():
            if t.direction == "sendonly":
                stats = await t.sender.getStats()
                total += sum(s.packetsSent for s in stats.values() if s.type == "outbound-rtp")
        return total

    async def close(self):
        for m in self.meters.values():
            m.stop()
        await self.pc.close()
        await self.ws.close()


async def add_answer_candidates(pc, answer):
    """Hands aiortc the server's candidates itself, working around an aiortc limitation.

    Gavel (str0m) bundles every m-line and, as RFC 8843 has it, writes the candidates only in the
    first (tagged) m-section. aiortc 1.16 takes a bundled transport's remote candidates from the
    *last* m-section (`iceCandidates[iceTransport] = media` in setRemoteDescription), so it learns
    none: it then connects only if the server sends connectivity checks first (aiortc discovers
    it as a peer-reflexive candidate). Gavel does that for ann, but not for a session whose offer
    only receives, like ben's: that session's ICE agent waits for the client's first datagram.
    So pass the answer's candidates through addIceCandidate, on the first m-line, which owns the
    bundle's transport. aioice speaks ICE over UDP only: the ICE-TCP candidate is left out."""
    first_mid = next(t.mid for t in pc.getTransceivers())
    seen = set()
    for line in answer.splitlines():
        if not line.startswith("a=candidate:"):
            continue
        value = line[len("a=") :].strip()
        if value in seen or value.split()[2].lower() != "udp":
            continue
        seen.add(value)
        candidate = candidate_from_sdp(value[len("candidate:") :])
        candidate.sdpMid = first_mid
        await pc.addIceCandidate(candidate)
    if not seen:
        raise AssertionError(f"the answer has no UDP candidate:\n{answer}")


async def wait_until(condition, what, timeout=WAIT):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def slot_of(member, track_sid, present=True):
    """Consumes `media_slots` events in order until one shows `track_sid` in a slot (or, with
    present=False, in none); returns that slot's mid (or None)."""
    while True:
        event = await member.ws.wait_for("media_slots", timeout=WAIT)
        carrying = [s["mid"] for s in event["slots"] if s.get("track_sid") == track_sid]
        if present and carrying:
            slot = next(s for s in event["slots"] if s["mid"] == carrying[0])
            if (slot.get("identity"), slot.get("source"), slot.get("kind")) != (
                "ann",
                "microphone",
                "audio",
            ):
                raise AssertionError(f"slot {slot} does not describe ann's microphone")
            return carrying[0]
        if not present and not carrying:
            return None


async def loud_frames_arrive(member, mid, what):
    """Waits (bounded) until `mid` decodes ENOUGH_FRAMES more frames of the tone."""
    meter = member.meters[mid]
    start = meter.loud
    try:
        await wait_until(lambda: meter.loud - start >= ENOUGH_FRAMES, what)
    except AssertionError:
        raise AssertionError(
            f"{what}: {member.identity} decoded {meter.loud - start} loud frames on slot {mid} "
            f"(frames per slot: {member.frames()})"
        ) from None
    log(f"{what}: {member.identity} decoded {meter.loud - start} loud frames on slot {mid}")


async def scenario():
    host = await Participant.connect(native_token(ROOM, "host", role="host"))
    members = []
    try:
        ann = await Member.join("ann", tone=Tone(), slots=1)
        members.append(ann)
        ben = await Member.join("ben", slots=2)
        members.append(ben)
        (ann_track,) = ann.tracks.values()
        if not ann_track.get("media"):
            raise AssertionError(f"ann's track is not carried by media: {ann_track}")
        sid = ann_track["sid"]

        # 1. ben is told which slot carries ann's microphone, and decodes the tone on it.
        mid = await slot_of(ben, sid)
        log(f"ben's slot {mid} carries ann's microphone {sid}")
        await loud_frames_arrive(ben, mid, "before the mute")

        # 2. The host mutes ann. ann's client is not told to stop: it keeps sending the tone,
        # and the server must drop the packets.
        reply = await host.request("mute", identity="ann", source="microphone")
        if not reply.get("ok") or reply.get("changed") != 1:
            raise AssertionError(f"the host's mute failed: {reply}")
        await slot_of(ben, sid, present=False)
        # Frames already in flight (network, jitter buffer, decoder) may still come out.
        await asyncio.sleep(0.2)
        frames_before, sent_before = ben.frames(), await ann.packets_sent()
        await asyncio.sleep(1.0)
        frames_after, sent_after = ben.frames(), await ann.packets_sent()
        if sent_after <= sent_before:
            raise AssertionError(f"ann stopped sending ({sent_before} → {sent_after} packets)")
        if frames_after != frames_before:
            raise AssertionError(
                f"ben decoded audio while ann was muted: frames per slot {frames_before} → "
                f"{frames_after} (ann sent {sent_after - sent_before} packets meanwhile)"
            )
        log(
            f"while muted: ann sent {sent_after - sent_before} packets, ben decoded none "
            f"(frames per slot {frames_after})"
        )

        # 3. ann unmutes herself: the server forwards her packets again, on whichever slot it
        # now assigns (a muted track gives up its slot).
        reply = await ann.ws.request("set_track_muted", track_sid=sid, muted=False)
        if not reply.get("ok"):
            raise AssertionError(f"ann cannot unmute herself: {reply}")
        mid = await slot_of(ben, sid)
        log(f"after the unmute ben's slot {mid} carries ann's microphone")
        await loud_frames_arrive(ben, mid, "after the unmute")
    finally:
        for m in members:
            await m.close()
        await host.close()


def test_aiortc_audio_through_the_sfu_and_a_host_mute_on_the_packets():
    asyncio.run(asyncio.wait_for(scenario(), TIMEOUT))


def main():
    try:
        asyncio.run(asyncio.wait_for(scenario(), TIMEOUT))
    except AssertionError as e:
        print(f"media_aiortc: FAILED: {e}", file=sys.stderr, flush=True)
        return 1
    except (asyncio.TimeoutError, TimeoutError):
        print(f"media_aiortc: FAILED: not done within {TIMEOUT} s", file=sys.stderr, flush=True)
        return 1
    log("passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
