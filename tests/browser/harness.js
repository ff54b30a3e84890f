// Shared harness for the console's browser tests: Debian's Chromium driven by playwright-core
// (never a downloaded browser), one browser context per person, against the live server at
// GAVEL_HTTP (a development server, started by crates/gavel-server/tests/console_browser.rs).

import net from "node:net";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { after, afterEach, before } from "node:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

export const HTTP = process.env.GAVEL_HTTP ?? "http://127.0.0.1:7880";
/** A second node of the same cluster, for the cluster tests (tests/browser/cluster/). */
export const HTTP2 = process.env.GAVEL_HTTP2;
export const CHROMIUM = process.env.GAVEL_CHROMIUM ?? "/usr/bin/chromium";
/** Set to a folder to save screenshots of the main screens (docs/screenshots/). */
const SHOTS = process.env.GAVEL_SCREENSHOTS;
/** Generous bound for "this appears"; tests never assert on timing. */
export const WAIT = 10_000;

const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--use-fake-device-for-media-stream",
  "--use-fake-ui-for-media-stream",
  // The server runs on a private address inside the test's network namespace (WebRTC needs a
  // non-loopback interface); capture needs a secure context, which http:// there is not.
  `--unsafely-treat-insecure-origin-as-secure=${[HTTP, HTTP2].filter(Boolean).join(",")}`,
];

export async function launch(extraFlags = []) {
  return chromium.launch({ executablePath: CHROMIUM, args: [...FLAGS, ...extraFlags], headless: true });
}

/** A unique room name per test, so tests never see each other. */
export function roomName(prefix) {
  return `${prefix}-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e6).toString(36)}`;
}

/**
 * Opens the console (at `base`, the server's address unless given) in a fresh context and joins
 * `room` as `name` with a development token for `role`, through the join form. Returns
 * {context, page}.
 */
export async function joinAs(browser, room, name, role, base = HTTP) {
  const context = await browser.newContext({
    viewport: { width: 1280, height: 800 },
    permissions: ["microphone", "camera"],
  });
  const page = await context.newPage();
  page.on("dialog", (d) => d.accept()); // "End the session for everyone?"
  // What the page saw go wrong, so a failure to join explains itself.
  const trouble = [];
  page.on("requestfailed", (r) => trouble.push(`${r.method()} ${r.url()}: ${r.failure()?.errorText}`));
  page.on("pageerror", (e) => trouble.push(`page error: ${e.message}`));
  page.on("console", (m) => m.type() === "error" && trouble.push(`console: ${m.text()}`));
  await page.goto(base);
  try {
    await fillJoinForm(page, room, name, role);
  } catch (e) {
    e.message += `\n${name}'s page: ${trouble.join("; ") || "no failed request or error"}`;
    throw e;
  }
  await page.locator("#room-screen").waitFor({ state: "visible", timeout: WAIT });
  return { context, page };
}

export async function fillJoinForm(page, room, name, role) {
  await page.locator("#dev-roles").waitFor({ state: "visible", timeout: WAIT });
  await page.getByRole("textbox", { name: "Room" }).fill(room);
  await page.getByRole("textbox", { name: "Your name" }).fill(name);
  await page.getByLabel(role[0].toUpperCase() + role.slice(1), { exact: true }).check();
  await page.getByRole("button", { name: "Join" }).click();
}

/** A participant's tile in the grid (not the spotlight). */
export function tile(page, identity) {
  return page.locator(`#grid .tile[data-identity="${identity}"]`);
}

/** A media state line of a tile: `source` is microphone, camera or screen_video. */
export function media(page, identity, source) {
  return tile(page, identity).locator(`.media[data-source="${source}"]`);
}

/** Selects a participant for the host panel. */
export async function select(page, identity) {
  await tile(page, identity).locator("button").click();
  await page.locator("#host-target-title").waitFor({ timeout: WAIT });
}

export async function shot(page, name) {
  if (!SHOTS) return;
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`) });
}

/** A development token from the server (`POST /dev/token`). */
export async function devToken(room, name, role) {
  const res = await fetch(`${HTTP}/dev/token`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ room, name, role }),
  });
  if (!res.ok) throw new Error(`dev token: ${res.status} ${await res.text()}`);
  return (await res.json()).token;
}

/**
 * Waits until `locator`'s text matches `pattern` (a RegExp or a substring), failing with the last
 * text seen. Playwright's own `expect` lives in @playwright/test; this is all these tests need.
 */
export async function textMatches(locator, pattern, timeout = WAIT) {
  const test = typeof pattern === "string" ? (t) => t.includes(pattern) : (t) => pattern.test(t);
  const deadline = Date.now() + timeout;
  let last = "";
  for (;;) {
    last = (await locator.textContent({ timeout }).catch(() => "")) ?? "";
    if (test(last)) return last;
    if (Date.now() > deadline) throw new Error(`text ${JSON.stringify(last)} never matched ${pattern}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Waits until `predicate()` (async) is true. */
export async function until(predicate, what, timeout = WAIT) {
  const deadline = Date.now() + timeout;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The end screen's reason once it shows (`kicked`, `banned`, `ended`, …). */
export async function endReason(page) {
  await page.locator("#end-screen").waitFor({ state: "visible", timeout: WAIT });
  return page.locator("#end-screen").getAttribute("data-reason");
}

/**
 * One Chromium for a test file: launched before its tests, closed after them, and every browser
 * context (each test's people) closed after each test. Use `shared.browser` inside tests.
 */
export function useBrowser(extraFlags = []) {
  const shared = { browser: null };
  before(async () => {
    shared.browser = await launch(extraFlags);
  });
  after(async () => {
    await shared.browser?.close();
  });
  afterEach(async () => {
    for (const context of shared.browser?.contexts() ?? []) await context.close();
  });
  return shared;
}

/** A mono 16-bit PCM WAV file of a sine tone. */
export function tone(hz, seconds, amplitude) {
  const rate = 48000;
  const samples = rate * seconds;
  const buf = Buffer.alloc(44 + samples * 2);
  buf.write("RIFF", 0);
  buf.writeUInt32LE(36 + samples * 2, 4);
  buf.write("WAVEfmt ", 8);
  buf.writeUInt32LE(16, 16);
  buf.writeUInt16LE(1, 20); // PCM
  buf.writeUInt16LE(1, 22); // mono
  buf.writeUInt32LE(rate, 24);
  buf.writeUInt32LE(rate * 2, 28);
  buf.writeUInt16LE(2, 32);
  buf.writeUInt16LE(16, 34);
  buf.write("data", 36);
  buf.writeUInt32LE(samples * 2, 40);
  for (let i = 0; i < samples; i++) {
    buf.writeInt16LE(Math.round(Math.sin((2 * Math.PI * hz * i) / rate) * amplitude * 32767), 44 + i * 2);
  }
  return buf;
}

/** Chromium whose fake microphone plays a steady 440 Hz tone, so "heard" and "silent" are far apart. */
export async function launchWithTone(name) {
  const wav = path.join(tmpdir(), `gavel-${name}-tone-${process.pid}.wav`);
  writeFileSync(wav, tone(440, 3, 0.5));
  return launch([`--use-file-for-fake-audio-capture=${wav}`, "--autoplay-policy=no-user-gesture-required"]);
}

/** A server-API call with the admin token the test runner passes in. */
export async function api(pathname, body, method = "POST") {
  const res = await fetch(`${HTTP}${pathname}`, {
    method,
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${process.env.GAVEL_ADMIN_TOKEN}` },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  assert.ok(res.ok, `${pathname}: ${res.status} ${text}`);
  return JSON.parse(text);
}

/**
 * The loudest RMS heard on `page` over `ms` (-1: nothing to listen to yet): of `who`'s
 * forwarded audio (an identity), or of the receive slot `{mid}` (which keeps playing whatever it
 * carries — silence once nothing is forwarded). The media session is the console's, or with
 * `sdk` the one a page opened with the JavaScript SDK (`window.meeting.media`).
 */
export async function loudnessOf(page, who, ms = 1000, sdk = false) {
  return page.evaluate(
    async ({ who, ms, sdk }) => {
      const session = sdk ? window.meeting.media : window.gavelSession.session;
      const el = typeof who === "string" ? session.audioOf(who) : session.elements.get(who.mid);
      if (!el) return -1;
      const ctx = new AudioContext();
      await ctx.resume();
      const analyser = ctx.createAnalyser();
      analyser.fftSize = 2048;
      ctx.createMediaStreamSource(el.srcObject).connect(analyser);
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
    },
    { who, ms, sdk },
  );
}

/** A TCP proxy to the server whose connections can be cut and new ones refused. */
export function proxy(target) {
  const sockets = new Set();
  let refusing = false;
  const server = net.createServer((client) => {
    if (refusing) return client.destroy();
    const upstream = net.connect(target.port, target.hostname);
    sockets.add(client).add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on("error", drop).on("close", drop);
    upstream.on("error", drop).on("close", drop);
    client.pipe(upstream).pipe(client);
  });
  return {
    listen: () => new Promise((r) => server.listen(0, target.hostname, () => r(`http://${target.hostname}:${server.address().port}`))),
    cut: () => sockets.forEach((s) => s.resetAndDestroy?.() ?? s.destroy()),
    refuse: (on) => (refusing = on),
    close: () => server.close(),
  };
}
