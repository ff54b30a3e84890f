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
