// Joining and leaving in every way the console handles: invitation links (?token=), refused
// tokens, keyboard use, moves, being replaced by another tab, leaving, and the microphone's real
// level driving the server's active-speaker detection.

import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { devToken, endReason, HTTP, joinAs, launch, useBrowser, roomName, select, shot, textMatches, tile, tone, until, WAIT } from "./harness.js";

const shared = useBrowser();

describe("sessions", () => {
  test("an invitation link joins at once and drops the token from the address bar", async () => {
    const room = roomName("link");
    const token = await devToken(room, "Dee", "participant");
    const page = await (await shared.browser.newContext()).newPage();
    await page.goto(`${HTTP}/?token=${encodeURIComponent(token)}`);
    await page.locator("#room-screen").waitFor({ timeout: WAIT });
    await textMatches(page.locator("#room-name"), room);
    // The address bar as the page itself sees it (Playwright's own record of the URL follows
    // `history.replaceState` through a separate event, which can trail the page under load).
    const address = await page.evaluate(() => location.href);
    assert.ok(!address.includes("token"), `the address bar still holds the token: ${address}`);
  });

  test("a refused token stays on the form and says why", async () => {
    const page = await (await shared.browser.newContext()).newPage();
    await page.goto(`${HTTP}/?token=not-a-token`);
    await textMatches(page.locator("#join-error"), /^unauthenticated: /);
    assert.equal(await page.locator("#join-screen").isVisible(), true);
  });

  test("the room works from the keyboard, and tiles describe themselves", async () => {
    const room = roomName("keys");
    const host = (await joinAs(shared.browser, room, "Ann", "host")).page;
    const guest = (await joinAs(shared.browser, room, "Bob", "participant")).page;
    await guest.getByRole("button", { name: "Turn on microphone" }).click();
    const bob = host.getByRole("button", { name: /^Bob, participant; microphone on; camera off; screen share off$/ });
    await bob.focus();
    await host.keyboard.press("Enter");
    await textMatches(host.locator("#host-target-title"), "Bob (participant)");
    await until(async () => (await bob.getAttribute("aria-pressed")) === "true", "the tile to show it is selected");
    // Tab reaches the panel's controls in order.
    await host.getByRole("button", { name: "Mute microphone" }).focus();
    await host.keyboard.press("Enter");
    await textMatches(tile(host, "Bob"), "muted by Ann");
  });

  test("a moved participant lands in the other room; the host sees them go", async () => {
    const room = roomName("move");
    const destination = `${room}-breakout`;
    const host = (await joinAs(shared.browser, room, "Ann", "host")).page;
    const guest = (await joinAs(shared.browser, room, "Bob", "participant")).page;
    // A host moves people into its room's children (breakouts): the backend creates one.
    const admin = process.env.GAVEL_ADMIN_TOKEN;
    assert.ok(admin, "GAVEL_ADMIN_TOKEN (a server-API token) is set by the test runner");
    const created = await fetch(`${HTTP}/v1/rooms`, {
      method: "POST",
      headers: { Authorization: `Bearer ${admin}`, "Content-Type": "application/json" },
      body: JSON.stringify({ name: destination, parent: room }),
    });
    assert.equal(created.status, 201);
    await select(host, "Bob");
    await host.getByLabel("Move to room").fill(destination);
    await host.getByRole("button", { name: "Move", exact: true }).click();
    await textMatches(guest.locator("#moved-notice"), `Ann moved you from room ${room} to room ${destination}.`);
    await textMatches(guest.locator("#room-name"), destination);
    await textMatches(guest.locator("#counts"), "1 present");
    await tile(host, "Bob").waitFor({ state: "detached" });
    await shot(guest, "moved");
  });

  test("a move into a room the host may not enter is refused, with the reason", async () => {
    const room = roomName("nomove");
    const host = (await joinAs(shared.browser, room, "Ann", "host")).page;
    await joinAs(shared.browser, room, "Bob", "participant");
    await select(host, "Bob");
    await host.getByLabel("Move to room").fill(`${room}-elsewhere`);
    await host.getByRole("button", { name: "Move", exact: true }).click();
    await textMatches(host.locator("body"), /may not move participants into room/);
    await tile(host, "Bob").waitFor({ state: "visible" });
  });

  test("joining again elsewhere replaces this tab, which says so", async () => {
    const room = roomName("replace");
    const first = (await joinAs(shared.browser, room, "Bob", "participant")).page;
    await joinAs(shared.browser, room, "Bob", "participant");
    assert.equal(await endReason(first), "replaced");
    await textMatches(first.locator("#end-title"), "You joined somewhere else");
  });

  test("leaving shows the end screen, and rejoin works", async () => {
    const room = roomName("leave");
    const page = (await joinAs(shared.browser, room, "Bob", "participant")).page;
    await page.getByRole("button", { name: "Leave" }).click();
    assert.equal(await endReason(page), "left");
    await page.getByRole("button", { name: "Rejoin" }).click();
    await page.locator("#room-screen").waitFor({ timeout: WAIT });
  });

  test("a viewer promoted to participant gets its controls; the role change is announced", async () => {
    const room = roomName("promote");
    const host = (await joinAs(shared.browser, room, "Ann", "host")).page;
    const viewer = (await joinAs(shared.browser, room, "Cy", "viewer")).page;
    assert.equal(await viewer.locator("#self-microphone").isDisabled(), true);
    await select(host, "Cy");
    await host.getByLabel("Role").selectOption("participant");
    await host.getByRole("button", { name: "Change role" }).click();
    await textMatches(viewer.locator("#toasts"), "Ann changed your role to participant.");
    await until(async () => !(await viewer.locator("#self-microphone").isDisabled()), "the microphone button");
    await textMatches(tile(host, "Cy"), "participant");
  });
});

describe("active speaker", () => {
  let loud;
  before(async () => {
    // A browser whose fake microphone plays a steady tone (-9 dBov): the console measures it with
    // Web Audio and sends the levels, and the server must pick it as the active speaker.
    const wav = path.join(tmpdir(), `gavel-tone-${process.pid}.wav`);
    writeFileSync(wav, tone(440, 3, 0.5));
    loud = await launch([`--use-file-for-fake-audio-capture=${wav}`]);
  });
  after(async () => {
    await loud?.close();
  });

  test("the browser's microphone level makes its participant the active speaker for everyone", async () => {
    const room = roomName("speaker");
    const speaker = (await joinAs(loud, room, "Ann", "host")).page;
    const listener = (await joinAs(shared.browser, room, "Bob", "participant")).page;
    await speaker.getByRole("button", { name: "Turn on microphone" }).click();
    await until(async () => Number(await speaker.locator("#mic-level").getAttribute("value")) > 0.5, "a loud meter");
    await listener.locator('#grid .tile-active[data-identity="Ann"]').waitFor({ timeout: WAIT });
    await textMatches(tile(listener, "Ann"), "speaking");
    await shot(listener, "active-speaker");
    await speaker.locator('#grid .tile-active[data-identity="Ann"]').waitFor({ timeout: WAIT });
    // Muted, the browser stops sending levels and the server lets the speaker go.
    await speaker.getByRole("button", { name: "Mute microphone" }).click();
    await listener.locator('#grid .tile-speaking[data-identity="Ann"]').waitFor({ state: "detached", timeout: WAIT });
  });
});
