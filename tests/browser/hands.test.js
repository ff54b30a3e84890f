// Raised hands in the console: a participant raises a hand, everyone sees the queue in order,
// a host lowers it, and the participant is told who did.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { joinAs, roomName, textMatches, useBrowser, WAIT } from "./harness.js";

const shared = useBrowser();

describe("console: raised hands", () => {
  test("hands queue in order for everyone, and a host lowers one", async () => {
    const room = roomName("hands");
    const hana = (await joinAs(shared.browser, room, "Hana", "host")).page;
    const ann = (await joinAs(shared.browser, room, "Ann", "participant")).page;
    const ben = (await joinAs(shared.browser, room, "Ben", "participant")).page;
    await ben.getByRole("button", { name: "Raise hand" }).click();
    await ann.getByRole("button", { name: "Raise hand" }).click();
    for (const page of [hana, ann, ben]) {
      await page.locator("#hands").waitFor({ state: "visible", timeout: WAIT });
      await textMatches(page.locator("#hands-list"), /1\. Ben\s*(Lower)?2\. Ann/);
    }
    await ann.getByRole("button", { name: "Lower hand" }).waitFor({ timeout: WAIT });
    assert.equal(await ann.locator('[data-action="lower-hand"]').count(), 0, "only a host lowers others' hands");
    await hana.locator('#hands-list li[data-identity="Ben"] [data-action="lower-hand"]').click();
    await textMatches(ben.locator("#toasts"), "Hana lowered your hand");
    await ben.getByRole("button", { name: "Raise hand" }).waitFor({ timeout: WAIT });
    await textMatches(hana.locator("#hands-list"), /^1\. Ann/);
  });
});

describe("console: the stage", () => {
  test("a host invites a viewer to the stage, who accepts, can speak, and is taken off it", async () => {
    const room = roomName("stage");
    const hana = (await joinAs(shared.browser, room, "Hana", "host")).page;
    const vic = (await joinAs(shared.browser, room, "Vic", "viewer")).page;
    await hana.locator('.tile[data-identity="Vic"] button').first().click();
    await hana.locator('[data-action="stage"]').click();
    await vic.locator("#consent-dialog").waitFor({ state: "visible", timeout: WAIT });
    await textMatches(vic.locator("#consent-title"), "Join the stage?");
    await vic.getByRole("button", { name: "Join the stage" }).click();
    await textMatches(hana.locator('.tile[data-identity="Vic"]'), "on stage");
    await textMatches(hana.locator('[data-action="stage"]'), "Take Vic off the stage");
    // On the stage a viewer may speak: the microphone button is offered.
    await vic.getByRole("button", { name: "Turn on microphone" }).waitFor({ timeout: WAIT });
    await hana.locator('[data-action="stage"]').click();
    await textMatches(hana.locator('[data-action="stage"]'), "Invite Vic to the stage");
    await hana.locator('.tile[data-identity="Vic"] .badge-stage').waitFor({ state: "detached", timeout: WAIT });
  });
});
