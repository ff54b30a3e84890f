// The host's controls and the participant's side of them, each in its own browser context:
// mute and the "muted by" notice, ask-to-unmute accepted and rejected, mute everyone except me,
// pin seen by everyone, kick with a ban and the failed rejoin, end the session.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { endReason, HTTP, joinAs, useBrowser, media, roomName, select, shot, textMatches, tile, until } from "./harness.js";

const shared = useBrowser();

/** Host Ann and participant Bob in a fresh room, Bob's microphone on. */
async function hostAndGuest(prefix) {
  const room = roomName(prefix);
  const host = await joinAs(shared.browser, room, "Ann", "host");
  const guest = await joinAs(shared.browser, room, "Bob", "participant");
  await guest.page.getByRole("button", { name: "Turn on microphone" }).click();
  await textMatches(media(host.page, "Bob", "microphone"), /\bon$/);
  return { room, host: host.page, guest: guest.page };
}

describe("console", () => {
  test("joining shows everyone with name, role and media state, and the counts", async () => {
    const room = roomName("join");
    const form = await (await shared.browser.newContext()).newPage();
    await form.goto(HTTP);
    await form.locator("#dev-roles").waitFor({ state: "visible" });
    await form.getByRole("textbox", { name: "Room" }).fill("standup");
    await form.getByRole("textbox", { name: "Your name" }).fill("Ann");
    await shot(form, "join");
    const host = await joinAs(shared.browser, room, "Ann", "host");
    const guest = await joinAs(shared.browser, room, "Bob", "participant");
    const viewer = await joinAs(shared.browser, room, "Cy", "viewer");
    for (const { page } of [host, guest, viewer]) {
      await textMatches(page.locator("#counts"), "3 present");
      await textMatches(tile(page, "Ann"), "host");
      await textMatches(tile(page, "Bob"), "participant");
      await textMatches(tile(page, "Cy"), "viewer");
      // A viewer may send nothing: every source is shown as not allowed, to everyone.
      await textMatches(media(page, "Cy", "microphone"), "not allowed");
      await textMatches(media(page, "Bob", "camera"), /off$/);
    }
    // Only a host gets the host panel and the audit trail; a viewer's own buttons are disabled.
    assert.equal(await host.page.locator("#host-panel").isVisible(), true);
    assert.equal(await host.page.locator("#audit").isVisible(), true);
    assert.equal(await guest.page.locator("#host-panel").isVisible(), false);
    assert.equal(await guest.page.locator("#audit").isVisible(), false);
    // A fresh room's audit trail says so in a plain line, not as a numbered entry.
    await textMatches(host.page.locator("#audit-status"), "No host actions yet.");
    assert.equal(await host.page.locator("#audit-list li").count(), 0);
    assert.equal(await viewer.page.locator("#self-microphone").isDisabled(), true);
    // The camera turns on with a local preview, and everyone sees it on.
    await guest.page.getByRole("button", { name: "Turn on camera" }).click();
    await guest.page.locator("#preview").waitFor({ state: "visible" });
    await textMatches(media(host.page, "Bob", "camera"), /\bon$/);
    await shot(host.page, "room-host");
    await shot(guest.page, "room-participant");
  });

  test("a host mutes a microphone; the participant is told who did it", async () => {
    const { host, guest } = await hostAndGuest("mute");
    await select(host, "Bob");
    await host.getByRole("button", { name: "Mute microphone" }).click();
    await textMatches(guest.locator("#muted-notice"), "Ann muted your microphone.");
    await textMatches(media(guest, "Bob", "microphone"), "muted by Ann");
    await textMatches(media(host, "Bob", "microphone"), "muted by Ann");
    await textMatches(guest.locator("#self-microphone"), "Unmute microphone");
    await shot(guest, "muted-by-host");
  });

  test("ask to unmute: accepted turns the microphone back on", async () => {
    const { host, guest } = await hostAndGuest("ask-yes");
    await select(host, "Bob");
    await host.getByRole("button", { name: "Mute microphone" }).click();
    await textMatches(media(host, "Bob", "microphone"), "muted by Ann");
    await host.getByRole("button", { name: "Ask to turn on microphone" }).click();
    const dialog = guest.getByRole("dialog");
    await dialog.waitFor();
    await textMatches(dialog, "Ann asks you to turn on your microphone.");
    await textMatches(guest.locator("#consent-countdown"), /^\d+ s left$/);
    await shot(guest, "consent-dialog");
    await guest.getByRole("button", { name: "Turn on microphone" }).click();
    await dialog.waitFor({ state: "hidden" });
    await textMatches(media(host, "Bob", "microphone"), /\bon$/);
    await textMatches(media(guest, "Bob", "microphone"), /\bon$/);
    await textMatches(host.locator("#toasts"), "Bob accepted the request to turn on their microphone.");
  });

  test("ask to unmute: rejected leaves the camera off and tells the host", async () => {
    const { host, guest } = await hostAndGuest("ask-no");
    await select(host, "Bob");
    await host.getByRole("button", { name: "Ask to turn on camera" }).click();
    const dialog = guest.getByRole("dialog");
    await textMatches(dialog, "Ann asks you to turn on your camera.");
    await guest.getByRole("button", { name: "Not now" }).click();
    await dialog.waitFor({ state: "hidden" });
    await textMatches(host.locator("#toasts"), "Bob declined the request to turn on their camera.");
    await textMatches(media(host, "Bob", "camera"), /off$/);
    assert.equal(await guest.locator("#preview").isVisible(), false);
  });

  test("mute everyone except me", async () => {
    const { room, host, guest } = await hostAndGuest("mute-all");
    const other = (await joinAs(shared.browser, room, "Cy", "participant")).page;
    await other.getByRole("button", { name: "Turn on microphone" }).click();
    await host.getByRole("button", { name: "Turn on microphone" }).click();
    await textMatches(media(guest, "Cy", "microphone"), /\bon$/);
    await textMatches(media(guest, "Ann", "microphone"), /\bon$/);
    await host.getByRole("button", { name: "Mute every microphone" }).click();
    for (const page of [host, guest, other]) {
      await textMatches(media(page, "Bob", "microphone"), "muted by Ann");
      await textMatches(media(page, "Cy", "microphone"), "muted by Ann");
      await textMatches(media(page, "Ann", "microphone"), /\bon$/);
    }
    await textMatches(other.locator("#muted-notice"), "Ann muted your microphone.");
    assert.equal(await host.locator("#muted-notice").isVisible(), false);
  });

  test("a pin is seen by everyone, and so is the unpin", async () => {
    const { room, host, guest } = await hostAndGuest("pin");
    const other = (await joinAs(shared.browser, room, "Cy", "participant")).page;
    await select(host, "Bob");
    await host.getByRole("button", { name: "Pin Bob for everyone" }).click();
    for (const page of [host, guest, other]) {
      await page.locator('#spotlight .tile[data-identity="Bob"]').waitFor();
      await textMatches(tile(page, "Bob"), "pinned");
    }
    await shot(other, "pinned");
    await host.getByRole("button", { name: "Unpin Bob" }).click();
    for (const page of [host, guest, other]) await page.locator("#spotlight").waitFor({ state: "hidden" });
  });

  test("kick with a ban: removed at once, and the rejoin is refused", async () => {
    const { room, host, guest } = await hostAndGuest("kick");
    await select(host, "Bob");
    await host.getByLabel("Ban after removing").selectOption({ label: "Ban for 1 hour" });
    await shot(host, "host-panel");
    await host.getByRole("button", { name: "Remove Bob" }).click();
    assert.equal(await endReason(guest), "kicked");
    await textMatches(guest.locator("#end-text"), "Ann removed you from the meeting.");
    await shot(guest, "kicked");
    await tile(host, "Bob").waitFor({ state: "detached" });
    await textMatches(host.locator("#counts"), "1 present");
    // Rejoining with the same name (a new token) is refused while the ban lasts.
    await guest.getByRole("button", { name: "Rejoin" }).click();
    await until(async () => (await guest.locator("#end-screen").getAttribute("data-reason")) === "banned", "the banned screen");
    await textMatches(guest.locator("#end-text"), /banned from room '.*' for \d+ more seconds/);
    await shot(guest, "banned");
    // The host's audit trail records the kick with its ban.
    await textMatches(host.locator("#audit-list"), /Ann kick → Bob/);
    assert.equal(await host.locator("#audit-status").isVisible(), false);
    // A fresh browser context with the same name fares no better.
    const again = await shared.browser.newContext();
    const page = await again.newPage();
    await page.goto(host.url());
    await page.getByRole("textbox", { name: "Room" }).fill(room);
    await page.getByRole("textbox", { name: "Your name" }).fill("Bob");
    await page.getByLabel("Participant", { exact: true }).check();
    await page.getByRole("button", { name: "Join" }).click();
    assert.equal(await endReason(page), "banned");
  });

  test("ending the session sends everyone to the end screen", async () => {
    const { room, host, guest } = await hostAndGuest("end");
    const viewer = (await joinAs(shared.browser, room, "Cy", "viewer")).page;
    await host.getByRole("button", { name: "End session for everyone" }).click();
    for (const page of [host, guest, viewer]) {
      assert.equal(await endReason(page), "ended");
      await textMatches(page.locator("#end-text"), "Ann ended the session for everyone.");
    }
    await shot(guest, "ended");
  });
});
