// Small formatting helpers; every value shown goes through React text nodes, never HTML.

export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return "–";
  const negative = ms < 0;
  let s = Math.floor(Math.abs(ms) / 1000);
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  const pad = (n: number) => String(n).padStart(2, "0");
  const text = h ? `${h}:${pad(m)}:${pad(s)}` : `${m}:${pad(s)}`;
  return negative ? `-${text}` : text;
}

export function when(iso: string | null | undefined): string {
  if (!iso) return "–";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

export function ago(iso: string | null | undefined): string {
  if (!iso) return "never";
  const seconds = (Date.now() - new Date(iso).getTime()) / 1000;
  if (!Number.isFinite(seconds)) return iso;
  const future = seconds < 0;
  const s = Math.abs(seconds);
  const text =
    s < 60 ? `${Math.round(s)} s` : s < 3600 ? `${Math.round(s / 60)} min` : s < 86400 ? `${Math.round(s / 3600)} h` : `${Math.round(s / 86400)} d`;
  return future ? `in ${text}` : `${text} ago`;
}

/** Only http(s) links are ever rendered as links (provider deep links); anything else is text. */
export function safeHttpUrl(value: string | null | undefined): string | null {
  if (!value) return null;
  try {
    const url = new URL(value);
    return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
  } catch {
    return null;
  }
}

export function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = Math.max(0, max - 1);
  // Never cut a surrogate pair in two (an emoji, a rare CJK character...).
  const last = text.charCodeAt(end - 1);
  if (end > 0 && last >= 0xd800 && last <= 0xdbff) end -= 1;
  return text.slice(0, end) + "…";
}

// ---------------------------------------------------------------- untrusted text
//
// Text from tracked sites and log providers (user ids, metadata, page URLs, console and network
// lines, error titles and messages, services, hosts...) may carry Unicode bidirectional controls.
// Shown as is, an unterminated RIGHT-TO-LEFT OVERRIDE reorders the dashboard's own text around it,
// and "\u202Egnp.exe\u202C" reads as "exe.png". So such text is shown (1) in an isolated element
// (<bdi>, see components/Untrusted.tsx; in attributes, between FSI and PDI) and (2) with each
// control replaced by a visible marker such as "⟨U+202E⟩". Display only: stored values, API calls
// and copied values keep the original text.

/** Names of the bidirectional formatting characters, by code point. */
export const BIDI_CONTROL_NAMES: Readonly<Record<number, string>> = {
  0x061c: "ARABIC LETTER MARK",
  0x200e: "LEFT-TO-RIGHT MARK",
  0x200f: "RIGHT-TO-LEFT MARK",
  0x202a: "LEFT-TO-RIGHT EMBEDDING",
  0x202b: "RIGHT-TO-LEFT EMBEDDING",
  0x202c: "POP DIRECTIONAL FORMATTING",
  0x202d: "LEFT-TO-RIGHT OVERRIDE",
  0x202e: "RIGHT-TO-LEFT OVERRIDE",
  0x2066: "LEFT-TO-RIGHT ISOLATE",
  0x2067: "RIGHT-TO-LEFT ISOLATE",
  0x2068: "FIRST STRONG ISOLATE",
  0x2069: "POP DIRECTIONAL ISOLATE",
};

/** One bidirectional control character (embeddings, overrides, isolates, LRM/RLM/ALM). */
const BIDI_CONTROL = /[\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/;
const BIDI_CONTROLS = new RegExp(BIDI_CONTROL.source, "g");
/** Splits text around its controls, keeping them (odd indexes of the split are the controls). */
const BIDI_SPLIT = new RegExp(`(${BIDI_CONTROL.source})`);

export function hasBidiControls(text: string): boolean {
  return BIDI_CONTROL.test(text);
}

/** The visible marker shown in place of a bidirectional control: "⟨U+202E⟩". */
export function bidiMarker(control: string): string {
  return `⟨U+${(control.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, "0")}⟩`;
}

/** Text with each bidirectional control replaced by its visible marker (nothing is reordered). */
export function revealBidi(text: string): string {
  return text.replace(BIDI_CONTROLS, bidiMarker);
}

/** Text cut into plain runs and controls: `{ text }` and `{ control, marker, name }` parts. */
export type BidiPart = { text: string } | { control: string; marker: string; name: string };
export function bidiParts(text: string): BidiPart[] {
  return text
    .split(BIDI_SPLIT)
    .map((piece, i): BidiPart => (i % 2 ? { control: piece, marker: bidiMarker(piece), name: BIDI_CONTROL_NAMES[piece.codePointAt(0) ?? 0] ?? "direction control" } : { text: piece }))
    .filter((part) => !("text" in part) || part.text !== "");
}

/** Untrusted text as shown: truncated (on the original text, so a marker is never cut), controls revealed. */
export function displayText(text: string, max?: number): string {
  return revealBidi(max === undefined ? text : truncate(text, max));
}

/** For plain-text slots (a `title` tooltip, a built string) where no <bdi> fits: the shown text
 * between FIRST STRONG ISOLATE and POP DIRECTIONAL ISOLATE, so it cannot reorder what surrounds it. */
export function isolateText(text: string, max?: number): string {
  return `\u2068${displayText(text, max)}\u2069`;
}
