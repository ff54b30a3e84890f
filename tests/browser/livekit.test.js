// LiveKit's JavaScript SDK (livekit-client, pinned in package.json) joins a Gavel room unchanged,
// in Chromium, beside console participants: it connects through /rtc (after /rtc/v1 answers
// 404), sees who is there, hears a console participant's microphone on the connection the
// server offers, is told when a host mutes that microphone and hears nothing more, and is told
// PARTICIPANT_REMOVED when a host removes it.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";
import { HTTP, joinAs, api, launchWithTone, roomName, until, WAIT } from "./harness.js";

/** The SDK's browser build, loaded into the page as a script (it defines `LivekitClient`). */
const SDK = fileURLToPath(new URL("./node_modules/livekit-client/dist/livekit-client.umd.js", import.meta.url));
/** RMS above which the tone counts as heard (media.test.js explains the value). */
const HEARD = 0.01;


/** A page of the server's origin with the SDK loaded, connected to `room` as `identity`. */
async function livekitClient(browser, room, identity) {
  const page = await (await browser.newContext()).newPage();
  await page.goto(`${HTTP}/healthz`);
  await page.addScriptTag({ path: SDK });
  const { token } = await (
    await fetch(`${HTTP}/dev/token`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ room, name: identity, role: "participant" }),
    })
  ).json();
  const others = await page.evaluate(
    async ({ url, token }) => {
      const { Room, RoomEvent } = window.LivekitClient;
      const room = new Room();
      const lk = (window.lk = { room, audio: null, disconnected: null, muted: [] });
      room.on(RoomEvent.TrackMuted, (pub, p) => lk.muted.push(p.identity));
      room.on(RoomEvent.TrackSubscribed, (track) => {
        if (track.kind !== "audio") return;
        // Chromium feeds remote WebRTC audio to Web Audio only while an element plays it.
        const el = track.attach();
        el.muted = true;
        document.body.append(el);
        lk.audio = track;
      });
      room.on(RoomEvent.Disconnected, (reason) => (lk.disconnected = reason));
      await room.connect(url, token);
      return [...room.remoteParticipants.values()].map((p) => p.identity).sort();
    },
    { url: HTTP.replace("http", "ws"), token },
  );
  return { page, others };
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

describe("LiveKit's JavaScript SDK", () => {
  let browser;
  before(async () => {
    browser = await launchWithTone("livekit");
  });
  after(async () => {
    await browser?.close();
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
});
