// Shared by the SDK's tests: a Meeting under Node (the `ws` package as its WebSocket, since
// Node 20 has no global one) against the live development server at GAVEL_HTTP.

import WebSocket from "ws";
import { Meeting } from "../src/index.js";

export const HTTP = process.env.GAVEL_HTTP ?? "http://127.0.0.1:7880";
/** Generous bound for "this happens"; tests never assert on timing. */
export const WAIT = 10_000;

export function roomName(prefix) {
  return `${prefix}-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e6).toString(36)}`;
}

/** A development token (the server runs `gavel dev`). */
export async function devToken(room, name, role) {
  const res = await fetch(`${HTTP}/dev/token`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ room, name, role }),
  });
  const body = await res.json();
  if (!res.ok) throw new Error(`${body.error.code}: ${body.error.message}`);
  return body.token;
}

/** A meeting joined as `name` with a development token for `role`. */
export async function join(room, name, role = "participant") {
  const meeting = await Meeting.init({ authToken: await devToken(room, name, role), url: HTTP, WebSocket });
  await meeting.join();
  return meeting;
}

/** Resolves with the arguments of the next `event` on `emitter` that `accept` takes. */
export function next(emitter, event, accept = () => true) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} within ${WAIT} ms`)), WAIT);
    const fn = (...args) => {
      if (!accept(...args)) return;
      clearTimeout(timer);
      emitter.off(event, fn);
      resolve(args);
    };
    emitter.on(event, fn);
  });
}

/** Waits until `check()` is true. */
export async function until(check, what) {
  const end = Date.now() + WAIT;
  while (!check()) {
    if (Date.now() > end) throw new Error(`never: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The remote participant named `name` in `meeting`'s joined map. */
export function remote(meeting, name) {
  return meeting.participants.joined.toArray().find((p) => p.name === name);
}
