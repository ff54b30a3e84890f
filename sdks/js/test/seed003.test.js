// Seed 003 — RealtimeKit's "Manage Participants in a Session" guide, its JavaScript/TypeScript
// flows through the SDK under Node against a live server: finding participants, muting one
// participant's audio or video, muting everyone's, pinning and unpinning, kicking one and
// everyone, each with its permission check (a participant without it gets code 1201) and the
// events the guide listens to.

import assert from "node:assert/strict";
import { afterEach, describe, test } from "node:test";
import { join, next, remote, roomName, until } from "./helpers.js";

const open = [];
async function meeting(room, name, role) {
  const m = await join(room, name, role);
  open.push(m);
  return m;
}
afterEach(async () => {
  for (const m of open.splice(0)) m.connection.close();
});

describe("seed 003: manage participants in a session", () => {
  test("remote participants are in meeting.participants.joined, the local one in meeting.self", async () => {
    const room = roomName("rtk-find");
    const host = await meeting(room, "Hana", "host");
    await meeting(room, "Ben", "participant");
    await until(() => host.participants.joined.size === 1, "Ben in Hana's joined map");
    const joinedParticipants = host.participants.joined.toArray();
    const participant = joinedParticipants[0];
    assert.equal(participant.name, "Ben");
    assert.equal(host.self.name, "Hana");
    assert.ok(!host.participants.joined.has(host.self.id), "the local participant is not in joined");
  });

  test("disableAudio: the target's audioEnabled becomes false, on the participant and on the map; 1201 without the permission", async () => {
    const room = roomName("rtk-mute");
    const host = await meeting(room, "Hana", "host");
    const ben = await meeting(room, "Ben", "participant");
    const cy = await meeting(room, "Cy", "participant");
    await ben.self.enableAudio();
    await until(() => remote(host, "Ben")?.audioEnabled, "Ben's audio on for Hana");
    const participant = remote(host, "Ben");

    assert.equal(cy.self.permissions.canDisableParticipantAudio, false);
    await assert.rejects(remote(cy, "Ben").disableAudio(), (err) => err.code === 1201);

    assert.equal(host.self.permissions.canDisableParticipantAudio, true);
    const onParticipant = next(participant, "audioUpdate");
    const onMap = next(host.participants.joined, "audioUpdate", (p) => p.id === participant.id);
    const onTarget = next(ben.self, "audioUpdate");
    await participant.disableAudio();
    const [{ audioEnabled }] = await onParticipant;
    assert.equal(audioEnabled, false);
    const [p, update] = await onMap;
    assert.equal(p.audioEnabled, false);
    assert.equal(update.audioEnabled, false);
    assert.equal((await onTarget)[0].audioEnabled, false, "the target hears it on meeting.self");
  });

  test("disableVideo: videoUpdate with videoEnabled false; 1201 without the permission", async () => {
    const room = roomName("rtk-video");
    const host = await meeting(room, "Hana", "host");
    const ben = await meeting(room, "Ben", "participant");
    await ben.self.enableVideo();
    await until(() => remote(host, "Ben")?.videoEnabled, "Ben's video on");
    await assert.rejects(remote(ben, "Hana").disableVideo(), (err) => err.code === 1201);
    const participant = remote(host, "Ben");
    const onMap = next(host.participants.joined, "videoUpdate");
    assert.equal(host.self.permissions.canDisableParticipantVideo, true);
    await participant.disableVideo();
    const [p, { videoEnabled }] = await onMap;
    assert.equal(p.userId, participant.userId);
    assert.equal(videoEnabled, false);
  });

  test("disableAllAudio and disableAllVideo reach every participant, the local one on meeting.self", async () => {
    const room = roomName("rtk-all");
    const host = await meeting(room, "Hana", "host");
    const ben = await meeting(room, "Ben", "participant");
    const cy = await meeting(room, "Cy", "participant");
    for (const m of [host, ben, cy]) {
      await m.self.enableAudio();
      await m.self.enableVideo();
    }
    await until(() => host.participants.joined.toArray().every((p) => p.audioEnabled && p.videoEnabled), "all on");
    await assert.rejects(ben.participants.disableAllAudio(), (err) => err.code === 1201);

    const mine = next(host.self, "audioUpdate");
    const theirs = [];
    host.participants.joined.on("audioUpdate", (p, { audioEnabled }) => theirs.push([p.name, audioEnabled]));
    await host.participants.disableAllAudio();
    assert.equal((await mine)[0].audioEnabled, false, "the local participant is muted too");
    await until(() => theirs.length === 2, "both remote updates");
    assert.deepEqual(theirs.sort(), [["Ben", false], ["Cy", false]]);
    await until(() => !ben.self.audioEnabled, "Ben sees himself muted");

    await host.participants.disableAllVideo();
    await until(() => host.participants.joined.toArray().every((p) => !p.videoEnabled), "all video off");
  });

  test("pin and unpin: pinned / unpinned on the participant, the map and the pinned one's self", async () => {
    const room = roomName("rtk-pin");
    const host = await meeting(room, "Hana", "host");
    const ben = await meeting(room, "Ben", "participant");
    await until(() => remote(host, "Ben"), "Ben there");
    const participant = remote(host, "Ben");
    assert.equal(ben.self.permissions.pinParticipant, false);
    await assert.rejects(remote(ben, "Hana").pin(), (err) => err.code === 1201);

    assert.equal(host.self.permissions.pinParticipant, true);
    const onParticipant = next(participant, "pinned");
    const onMap = next(host.participants.joined, "pinned");
    const onSelf = next(ben.self, "pinned");
    await participant.pin();
    assert.equal((await onParticipant)[0].isPinned, true);
    assert.equal((await onMap)[0].isPinned, true);
    assert.equal((await onSelf)[0].isPinned, true);
    assert.deepEqual(host.participants.pinned.toArray().map((p) => p.name), ["Ben"]);

    const unpinned = next(participant, "unpinned");
    const selfUnpinned = next(ben.self, "unpinned");
    await participant.unpin();
    assert.equal((await unpinned)[0].isPinned, false);
    await selfUnpinned;
    assert.equal(host.participants.pinned.size, 0);
  });

  test("kick: the kicked one's self emits roomLeft {state: kicked}, the others participantLeft; 1201 without the permission", async () => {
    const room = roomName("rtk-kick");
    const host = await meeting(room, "Hana", "host");
    const ben = await meeting(room, "Ben", "participant");
    const cy = await meeting(room, "Cy", "participant");
    await until(() => host.participants.joined.size === 2 && cy.participants.joined.size === 2, "all there");
    assert.equal(cy.self.permissions.kickParticipant, false);
    await assert.rejects(remote(cy, "Ben").kick(), (err) => err.code === 1201);

    assert.equal(host.self.permissions.kickParticipant, true);
    const left = next(ben.self, "roomLeft");
    const gone = next(cy.participants.joined, "participantLeft");
    await remote(host, "Ben").kick();
    assert.equal((await left)[0].state, "kicked");
    assert.equal((await gone)[0].name, "Ben");
    assert.equal(cy.participants.joined.size, 1);
  });

  test("kickAll: everyone's self emits roomLeft {state: ended}; 1201 without the permission", async () => {
    const room = roomName("rtk-kickall");
    const host = await meeting(room, "Hana", "host");
    const ben = await meeting(room, "Ben", "participant");
    await assert.rejects(ben.participants.kickAll(), (err) => err.code === 1201);
    const benLeft = next(ben.self, "roomLeft");
    const hostLeft = next(host.self, "roomLeft");
    await host.participants.kickAll();
    assert.equal((await benLeft)[0].state, "ended");
    assert.equal((await hostLeft)[0].state, "ended");
  });
});
