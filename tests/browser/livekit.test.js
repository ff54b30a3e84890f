// LiveKit's JavaScript SDK (livekit-client, pinned in package.json) joins a Gavel room unchanged,
// in Chromium. Beside console participants: it connects through /rtc (after /rtc/v1 answers
// 404), sees who is there, hears a console participant's microphone on the connection the
// server offers, is told when a host mutes that microphone and hears nothing more, and is told
// PARTICIPANT_REMOVED when a host removes it. Between two SDK clients: one publishes microphone
// and camera and the other hears and decodes them and sees the active speaker; data both ways;
// RoomService's MutePublishedTrack reported by both and silencing the track; UpdateParticipant
// revoking publishing (the publisher is told, its tracks are unpublished for both); a removal
// with a ban, after which the identity cannot join again.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";
import { HTTP, joinAs, api, devToken, launchWithTone, proxy, roomName, until, WAIT } from "./harness.js";

/** The SDK's browser build, loaded into the page as a script (it defines `LivekitClient`). */
const SDK = fileURLToPath(new URL("./node_modules/livekit-client/dist/livekit-client.umd.js", import.meta.url));
/** RMS above which the tone counts as heard (media.test.js explains the value). */
const HEARD = 0.01;


/**
 * A page of the server's origin with the SDK loaded, connected to `room` as `identity` (through
 * `base`, the server's address or a proxy's), that records what its SDK reports in `window.lk`.
 * Returns {page, others} (the identities it saw on joining).
 */
async function livekitClient(browser, room, identity, base = HTTP) {
  const context = await browser.newContext({ permissions: ["microphone", "camera"] });
  const page = await context.newPage();
  await page.goto(`${HTTP}/healthz`);
  await page.addScriptTag({ path: SDK });
  const others = await page.evaluate(
    async ({ url, token }) => {
      const { Room, RoomEvent } = window.LivekitClient;
      const room = new Room();
      const lk = (window.lk = {
        room,
        audio: null,
        video: null,
        disconnected: null,
        muted: [],
        unpublished: [],
        localUnpublished: 0,
        permissionChanges: 0,
        speakers: [],
        data: [],
        gavel: [],
        joined: [],
        left: [],
        reconnected: 0,
      });
      room.on(RoomEvent.ParticipantConnected, (p) => lk.joined.push(p.identity));
      room.on(RoomEvent.ParticipantDisconnected, (p) => lk.left.push(p.identity));
      room.on(RoomEvent.Reconnected, () => (lk.reconnected += 1));
      room.on(RoomEvent.TrackMuted, (pub, p) => lk.muted.push(p.identity));
      room.on(RoomEvent.TrackUnpublished, (pub, p) => lk.unpublished.push(`${p.identity}:${pub.source}`));
      room.on(RoomEvent.LocalTrackUnpublished, () => (lk.localUnpublished += 1));
      room.on(RoomEvent.ParticipantPermissionsChanged, (prev, p) => {
        if (p === room.localParticipant) lk.permissionChanges += 1;
      });
      room.on(RoomEvent.ActiveSpeakersChanged, (speakers) => (lk.speakers = speakers.map((s) => s.identity)));
      room.on(RoomEvent.DataReceived, (payload, p, kind, topic) => {
        const text = new TextDecoder().decode(payload);
        // Gavel's own events (gavel.event) are kept apart from the application's data.
        if (topic?.startsWith("gavel.")) lk.gavel.push(JSON.parse(text));
        else lk.data.push({ from: p?.identity ?? null, topic, text });
      });
      room.on(RoomEvent.TrackSubscribed, (track) => {
        // Chromium feeds remote WebRTC audio to Web Audio only while an element plays it.
        const el = track.attach();
        el.muted = true;
        document.body.append(el);
        if (track.kind === "audio") lk.audio = track;
        else lk.video = el;
      });
      room.on(RoomEvent.Disconnected, (reason) => (lk.disconnected = reason));
      await room.connect(url, token);
      return [...room.remoteParticipants.values()].map((p) => p.identity).sort();
    },
    { url: base.replace("http", "ws"), token: await devToken(room, identity, "participant") },
  );
  return { page, others };
}

/** Video frames `page` has decoded from its subscribed camera so far (-1: none subscribed). */
async function framesDecoded(page) {
  return page.evaluate(() => window.lk.video?.getVideoPlaybackQuality().totalVideoFrames ?? -1);
}

/** Calls the server's LiveKit RoomService (Twirp, JSON) with the admin token. */
async function roomService(method, body) {
  return api(`/twirp/livekit.RoomService/${method}`, body);
}

/** The loudest RMS of the subscribed audio track on `page` over `ms` (-1: none yet). */
async function loudness(page, ms = 500) {
  return page.evaluate(async (ms) => {
    const track = window.lk.audio;
    if (!track) return -1;
    const ctx = new AudioContext();
    await ctx.resume();
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 2048;
    ctx.createMediaStreamSource(new MediaStream([track.mediaStreamTrack])).connect(analyser);
    const buf = new Float32Array(analyser.fftSize);
    let max = 0;
    const end = performance.now() + ms;
    while (performance.now() < end) {
      analyser.getFloatTimeDomainData(buf);
      let sum = 0;
      for (const x of buf) sum += x * x;
      max = Math.max(max, Math.sqrt(sum / buf.length));
      await new Promise((r) => setTimeout(r, 50));
    }
    await ctx.close();
    return max;
  }, ms);
}

/** The ICE ufrag of a session description's first media section. */
const ufrag = (sdp) => sdp?.match(/a=ice-ufrag:(\S+)/)?.[1] ?? null;

/** The ufrags `page`'s SDK uses now: the server's on the subscriber connection, its own on the publisher's. */
async function ufrags(page) {
  const sdps = await page.evaluate(() => {
    const pcs = window.lk.room.engine.pcManager;
    return [pcs.subscriber.pc?.remoteDescription?.sdp, pcs.publisher.pc?.localDescription?.sdp];
  });
  return sdps.map(ufrag);
}

describe("LiveKit's JavaScript SDK", () => {
  let browser;
  before(async () => {
    browser = await launchWithTone("livekit");
  });
  after(async () => {
    await browser?.close();
  });

  test("resumes after its connection breaks: nobody sees it leave, it learns who came, and both connections restart ICE and carry sound", async () => {
    const room = roomName("livekit-resume");
    const relay = proxy(new URL(HTTP));
    const base = await relay.listen();
    try {
      // Lee's signalling goes through the proxy (her media does not: it is UDP to the server).
      const lee = (await livekitClient(browser, room, "Lee", base)).page;
      const kim = (await livekitClient(browser, room, "Kim")).page;
      await lee.evaluate(() => window.lk.room.localParticipant.setMicrophoneEnabled(true));
      await kim.evaluate(() => window.lk.room.localParticipant.setMicrophoneEnabled(true));
      await until(async () => (await loudness(kim)) > HEARD, "Lee's tone at Kim", WAIT * 2);
      await until(async () => (await loudness(lee)) > HEARD, "Kim's tone at Lee", WAIT * 2);
      const sid = await lee.evaluate(() => window.lk.room.localParticipant.sid);
      const [subscriberBefore, publisherBefore] = await ufrags(lee);
      assert.ok(subscriberBefore && publisherBefore, "both connections negotiated");

      // The signalling connection breaks with no close frame; Ann joins while it is down.
      relay.refuse(true);
      relay.cut();
      await joinAs(browser, room, "Ann", "participant");
      await new Promise((r) => setTimeout(r, 500));
      relay.refuse(false);

      await until(async () => (await lee.evaluate(() => window.lk.reconnected)) > 0, "Lee's SDK resumed", WAIT * 2);
      assert.equal(await lee.evaluate(() => window.lk.room.localParticipant.sid), sid, "the same session, not a new join");
      await until(async () => (await lee.evaluate(() => window.lk.joined)).includes("Ann"), "Ann, who joined meanwhile, at Lee", WAIT);
      assert.deepEqual(await kim.evaluate(() => window.lk.left), [], "Kim never saw Lee leave");
      assert.deepEqual(await lee.evaluate(() => window.lk.left), [], "Lee never saw Kim leave");
      await until(
        async () => {
          const [subscriber, publisher] = await ufrags(lee);
          return subscriber !== subscriberBefore && publisher !== publisherBefore;
        },
        "new ICE credentials on both of Lee's connections",
        WAIT,
      );
      // Sound still flows both ways on the restarted connections.
      await new Promise((r) => setTimeout(r, 2000));
      await until(async () => (await loudness(kim)) > HEARD, "Lee's tone at Kim after the resume", WAIT);
      await until(async () => (await loudness(lee)) > HEARD, "Kim's tone at Lee after the resume", WAIT);
      const states = await lee.evaluate(() => {
        const pcs = window.lk.room.engine.pcManager;
        return [pcs.subscriber.pc.connectionState, pcs.publisher.pc.connectionState];
      });
      assert.deepEqual(states, ["connected", "connected"]);
      const present = (await roomService("ListParticipants", { room })).participants.map((p) => p.identity).sort();
      assert.deepEqual(present, ["Ann", "Kim", "Lee"]);
    } finally {
      relay.close();
    }
  });

  test("joins, hears a console participant, loses her to a host mute, and is removed with its reason", async () => {
    const room = roomName("livekit");
    const ann = (await joinAs(browser, room, "Ann", "participant")).page;
    await ann.getByRole("button", { name: "Turn on microphone" }).click();

    const { page, others } = await livekitClient(browser, room, "Lee");
    assert.deepEqual(others, ["Ann"]);
    await until(async () => (await loudness(page)) > HEARD, "Ann's tone at the LiveKit client", WAIT * 2);

    // A host mutes Ann: the SDK is told, and the server drops her packets.
    await api(`/v1/rooms/${room}/participants/Ann/mute`, { source: "microphone", muted: true });
    await until(async () => (await page.evaluate(() => window.lk.muted)).includes("Ann"), "TrackMuted for Ann", WAIT);
    await new Promise((r) => setTimeout(r, 500)); // frames already on their way
    const silent = await loudness(page, 1500);
    assert.ok(silent >= 0 && silent < 0.001, `the LiveKit client still hears Ann (rms ${silent})`);

    await api(`/v1/rooms/${room}/participants/Lee/remove`, {});
    await until(async () => (await page.evaluate(() => window.lk.disconnected)) !== null, "the SDK's disconnect", WAIT);
    const reason = await page.evaluate(() => window.lk.disconnected);
    const removed = await page.evaluate(() => window.LivekitClient.DisconnectReason.PARTICIPANT_REMOVED);
    assert.equal(reason, removed, `disconnected with reason ${reason}`);
  });

  test("two LiveKit clients publish to each other, talk over data, and follow RoomService's mute, permissions and removal, and a ban", async () => {
    const room = roomName("livekit2");
    const lee = (await livekitClient(browser, room, "Lee")).page;
    const { page: kim, others } = await livekitClient(browser, room, "Kim");
    assert.deepEqual(others, ["Lee"]);

    // Lee publishes her microphone (the tone) and camera: Kim hears one and decodes the other.
    await lee.evaluate(() => window.lk.room.localParticipant.enableCameraAndMicrophone());
    await until(async () => (await loudness(kim)) > HEARD, "Lee's tone at Kim", WAIT * 2);
    await until(async () => (await framesDecoded(kim)) > 10, "Lee's camera decoded at Kim", WAIT * 2);
    const shown = await framesDecoded(kim);
    await until(async () => (await framesDecoded(kim)) > shown + 10, "more of Lee's frames at Kim", WAIT);
    await until(async () => (await kim.evaluate(() => window.lk.speakers)).includes("Lee"), "Lee as the active speaker", WAIT);

    // Data both ways, stamped with the sender.
    const say = (page, text) =>
      page.evaluate((text) => window.lk.room.localParticipant.publishData(new TextEncoder().encode(text), { reliable: true, topic: "chat" }), text);
    await say(lee, "hi Kim");
    await until(async () => (await kim.evaluate(() => window.lk.data)).length > 0, "Lee's message at Kim", WAIT);
    assert.deepEqual(await kim.evaluate(() => window.lk.data[0]), { from: "Lee", topic: "chat", text: "hi Kim" });
    await say(kim, "hi Lee");
    await until(async () => (await lee.evaluate(() => window.lk.data)).length > 0, "Kim's message at Lee", WAIT);
    assert.deepEqual(await lee.evaluate(() => window.lk.data[0]), { from: "Kim", topic: "chat", text: "hi Lee" });

    // LiveKit's other packets travel whole: an RPC call and its answer, and a text stream.
    await kim.evaluate(() =>
      window.lk.room.registerRpcMethod("greet", async (data) => `hello ${data.callerIdentity}, you said ${data.payload}`),
    );
    const answer = await lee.evaluate(() =>
      window.lk.room.localParticipant.performRpc({ destinationIdentity: "Kim", method: "greet", payload: "hi" }),
    );
    assert.equal(answer, "hello Lee, you said hi");
    await lee.evaluate(() => {
      window.lk.streamed = null;
      window.lk.room.registerTextStreamHandler("notes", async (reader, from) => {
        window.lk.streamed = { from: from.identity, text: await reader.readAll() };
      });
    });
    const long = "minutes of the meeting ".repeat(1000); // several chunks
    await kim.evaluate((text) => window.lk.room.localParticipant.sendText(text, { topic: "notes" }), long);
    await until(async () => (await lee.evaluate(() => window.lk.streamed)) !== null, "Kim's text stream at Lee", WAIT);
    assert.deepEqual(await lee.evaluate(() => window.lk.streamed), { from: "Kim", text: long });

    // RoomService mutes Lee's microphone: both SDKs report it, and Kim hears nothing more.
    const { participants } = await roomService("ListParticipants", { room });
    const leeInfo = participants.find((p) => p.identity === "Lee");
    const mic = leeInfo.tracks.find((t) => t.source === "MICROPHONE" || t.source === 2);
    assert.ok(mic, `Lee's microphone in ${JSON.stringify(leeInfo.tracks)}`);
    await roomService("MutePublishedTrack", { room, identity: "Lee", track_sid: mic.sid, muted: true });
    await until(async () => (await kim.evaluate(() => window.lk.muted)).includes("Lee"), "TrackMuted for Lee at Kim", WAIT);
    await until(async () => (await lee.evaluate(() => window.lk.muted)).includes("Lee"), "TrackMuted for Lee at Lee", WAIT);
    // Who muted her, which LiveKit's message does not say, comes as a Gavel event.
    const mutedBy = async () => (await kim.evaluate(() => window.lk.gavel)).find((e) => e.type === "track_muted" && e.identity === "Lee");
    await until(async () => (await mutedBy()) !== undefined, "gavel.event track_muted at Kim", WAIT);
    assert.ok((await mutedBy()).by, `who muted Lee: ${JSON.stringify(await kim.evaluate(() => window.lk.gavel))}`);
    await new Promise((r) => setTimeout(r, 500)); // frames already on their way
    const silent = await loudness(kim, 1500);
    assert.ok(silent >= 0 && silent < 0.001, `Kim still hears Lee (rms ${silent})`);

    // Revoking Lee's right to publish: her SDK is told, and her tracks are unpublished for both.
    await roomService("UpdateParticipant", { room, identity: "Lee", permission: { can_subscribe: true, can_publish: false, can_publish_data: true } });
    await until(async () => (await lee.evaluate(() => window.lk.permissionChanges)) > 0, "ParticipantPermissionsChanged at Lee", WAIT);
    await until(async () => (await kim.evaluate(() => window.lk.unpublished)).length >= 2, "Lee's tracks unpublished at Kim", WAIT);
    assert.deepEqual((await kim.evaluate(() => window.lk.unpublished)).sort(), ["Lee:camera", "Lee:microphone"]);
    await until(async () => (await lee.evaluate(() => window.lk.localUnpublished)) >= 2, "Lee's own tracks unpublished", WAIT);

    // Removed with a ban: Lee's SDK says why, and Lee cannot come back.
    await api(`/v1/rooms/${room}/participants/Lee/remove`, { ban_seconds: 600 });
    await until(async () => (await lee.evaluate(() => window.lk.disconnected)) !== null, "Lee's disconnect", WAIT);
    const removed = await lee.evaluate(() => window.LivekitClient.DisconnectReason.PARTICIPANT_REMOVED);
    assert.equal(await lee.evaluate(() => window.lk.disconnected), removed);
    const token = await devToken(room, "Lee", "participant");
    const again = await lee.evaluate(
      async ({ url, token }) => {
        const room = new window.LivekitClient.Room();
        try {
          await room.connect(url, token);
          return "connected";
        } catch (e) {
          return `refused: ${e.message}`;
        }
      },
      { url: HTTP.replace("http", "ws"), token },
    );
    assert.match(again, /^refused/);
    const present = (await roomService("ListParticipants", { room })).participants.map((p) => p.identity);
    assert.deepEqual(present, ["Kim"]);
  });
});
