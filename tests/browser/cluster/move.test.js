// Cluster mode in Chromium (run by crates/gavel-server/tests/cluster_browser.rs: two nodes of
// deploy/local-cluster in a private network namespace). A console participant whose socket is on
// node 1 is moved into a room node 2 serves: its media session cannot follow, the server says so
// (`media_session_ended`), and the console opens a new one with node 2 by itself and publishes
// its microphone again — someone in that room hears it. Then node 2 stops (SIGTERM): node 1
// takes the room over and admits her again, and her console reopens its media session once more,
// now with node 1 — someone joining there hears her.

import { after, before, test } from "node:test";
import { HTTP, HTTP2, api, joinAs, launchWithTone, loudnessOf, roomName, until, WAIT } from "../harness.js";

/** RMS above which a tone counts as heard (as in media.test.js). */
const HEARD = 0.01;

let browser;
before(async () => {
  browser = await launchWithTone("cluster");
});
after(async () => {
  await browser?.close();
});

const heard = (page, who, what) => until(async () => (await loudnessOf(page, who, 500)) > HEARD, what, WAIT * 3);

test("a participant's media follows her room to another node, by move and by failover", async () => {
  const here = roomName("here"); // node 1 serves it: its first join is there
  const there = roomName("there"); // node 2 serves it
  const sue = (await joinAs(browser, there, "Sue", "host", HTTP2)).page;
  const ann = (await joinAs(browser, here, "Ann", "participant")).page;
  await ann.getByRole("button", { name: "Turn on microphone" }).click();
  await ann.getByRole("button", { name: "Mute microphone" }).waitFor({ timeout: WAIT });

  // Moved: her socket stays on node 1, her room and media are node 2's.
  await api(`/v1/rooms/${here}/participants/Ann/move`, { destination: there });
  await ann.locator("#moved-notice").waitFor({ state: "visible", timeout: WAIT });
  await heard(sue, "Ann", "Ann's tone at Sue after the move");
  await ann.getByRole("button", { name: "Mute microphone" }).waitFor({ timeout: WAIT });

  // Node 2 stops: it hands the room over; node 1, her socket's node, takes it and admits her again.
  process.kill(Number(process.env.GAVEL_NODE2_PID), "SIGTERM");
  await sue.locator("#end-screen").waitFor({ state: "visible", timeout: WAIT });
  const tom = (await joinAs(browser, there, "Tom", "participant")).page;
  await heard(tom, "Ann", "Ann's tone at Tom after the failover");
});
