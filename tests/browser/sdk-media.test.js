// The JavaScript SDK's media in Chromium: two pages load the SDK from the server
// (`/console/js/index.js`, the same modules the console runs), join with a RealtimeKit-shaped
// `Meeting`, open their media sessions with `startMedia()`; one publishes its microphone, the
// other hears it through the server — until a host's `participant.disableAudio()` silences it
// on the packets, though the sender's page keeps sending.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { HTTP, launchWithTone, loudnessOf, roomName, until, WAIT } from "./harness.js";

const HEARD = 0.01;
let browser;
before(async () => {
  browser = await launchWithTone("sdk");
});
after(async () => {
  await browser?.close();
});

/** A page of this server with a joined Meeting in `window.meeting` and its media session open. */
async function sdkPage(room, name, role) {
  const context = await browser.newContext({ permissions: ["microphone", "camera"] });
  const page = await context.newPage();
  await page.goto(HTTP);
  await page.evaluate(
    async ({ room, name, role }) => {
      const { Meeting } = await import("/console/js/index.js");
      const res = await fetch("/dev/token", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ room, name, role }),
      });
      const { token } = await res.json();
      const meeting = await Meeting.init({ authToken: token });
      await meeting.join();
      await meeting.startMedia();
      window.meeting = meeting;
    },
    { room, name, role },
  );
  return page;
}

/** The loudest RMS heard on `page` over `ms`, through the SDK's media session. */
const loudness = (page, who, ms = 1500) => loudnessOf(page, who, ms, true);

describe("JavaScript SDK: media in a browser", () => {
  test("a published microphone is heard through the server until a host disables it", async () => {
    const room = roomName("sdk-media");
    const hana = await sdkPage(room, "Hana", "host");
    const ann = await sdkPage(room, "Ann", "participant");
    await ann.evaluate(async () => {
      const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
      await window.meeting.media.publish("microphone", stream.getAudioTracks()[0]);
    });
    await until(async () => (await loudness(hana, "Ann", 500)) > HEARD, "Hana hears Ann", WAIT * 2);
    const mid = await hana.evaluate(() => window.meeting.media.audioOf("Ann").dataset.mid);

    const muted = await hana.evaluate(async () => {
      const ann = window.meeting.participants.joined.toArray().find((p) => p.name === "Ann");
      const update = new Promise((resolve) => ann.once("audioUpdate", resolve));
      await ann.disableAudio();
      return (await update).audioEnabled;
    });
    assert.equal(muted, false);
    // Ann's page still sends; the server forwards nothing.
    await until(async () => {
      const heard = await loudness(hana, { mid }, 500);
      return heard >= 0 && heard < HEARD / 10;
    }, "Ann silenced on the packets", WAIT * 2);
    assert.ok(await ann.evaluate(() => window.meeting.media.senderOf("microphone")?.track?.readyState === "live"), "Ann's page still sends");
  });
});
