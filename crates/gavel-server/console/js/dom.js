// Small DOM helpers shared by the console's views.

/** The element with this id (throws early if the page and the code disagree). */
export function byId(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing element #${id}`);
  return el;
}

/**
 * Creates an element: `h("button", {class: "x", onclick: fn, "aria-label": "…"}, "text", child)`.
 * Text children become text nodes, so names from the network are never parsed as HTML.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Announces `text` to screen readers through the page's polite live region. */
export function announce(text) {
  const live = byId("live");
  live.textContent = "";
  // A fresh node per message makes repeated identical messages heard again.
  live.append(h("p", {}, text));
}

/** A short message in the corner; `kind` is "info" or "error". Errors stay until dismissed. */
export function toast(text, kind = "info") {
  const box = byId("toasts");
  const item = h(
    "div",
    { class: `toast toast-${kind}`, role: kind === "error" ? "alert" : "status" },
    h("span", {}, text),
    h("button", { type: "button", class: "toast-close", "aria-label": "Dismiss", onclick: () => item.remove() }, "×"),
  );
  box.append(item);
  if (kind !== "error") setTimeout(() => item.remove(), 6000);
  while (box.children.length > 5) box.firstElementChild.remove();
}

/** Human words for a media source. */
export const SOURCE_LABELS = {
  microphone: "microphone",
  camera: "camera",
  screen_video: "screen share",
  screen_audio: "screen audio",
};
