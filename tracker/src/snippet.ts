/** The IIFE served at /static/tracker.js: turns the snippet's `window.OpenReplay` queue stub into a Tracker.
 *
 * The snippet (README) sets `window.OpenReplay = {_q: [], _cfg: {...}}` with queueing methods; calls made
 * before this script ran are replayed here in order, and their promises settle with the real answers. */

import type { TrackerOptions, Win } from "./options";
import { Tracker } from "./tracker";

type Queued = [method: string, args: unknown[], resolve?: (value: unknown) => void];

interface Stub {
  _q?: Queued[];
  _cfg?: Partial<TrackerOptions>;
}

const METHODS = [
  "start",
  "stop",
  "setUserID",
  "setMetadata",
  "event",
  "handleError",
  "getSessionToken",
  "getSessionID",
  "getSessionURL",
  "isActive",
] as const;

/** The ReplayLink base URL this script was loaded from (`https://rl.example.com/static/tracker.js` -> `https://rl.example.com`). */
export function scriptBase(src: string | undefined | null): string | null {
  if (!src) return null;
  try {
    const url = new URL(src);
    const path = url.pathname.replace(/\/static\/tracker(\.min)?\.js$/, "");
    return `${url.origin}${path === url.pathname ? "" : path}`.replace(/\/+$/, "");
  } catch {
    return null;
  }
}

/** Replaces the stub with a facade over a real Tracker and replays the queued calls in order. */
export function install(win: Win, src: string | null): void {
  const w = win as Win & { OpenReplay?: Stub; ReplayLink?: unknown };
  w.ReplayLink = { Tracker };
  const stub = w.OpenReplay;
  if (!stub || !Array.isArray(stub._q)) return; // loaded without the snippet: `new ReplayLink.Tracker(...)`
  const cfg = { ...(stub._cfg ?? {}) } as TrackerOptions;
  if (!cfg.ingestPoint) cfg.ingestPoint = scriptBase(src) ?? win.location.origin;
  let tracker: Tracker;
  try {
    tracker = new Tracker(cfg, win);
  } catch (err) {
    (win.console.error as (...a: unknown[]) => void)(String(err));
    return;
  }
  const facade: Record<string, unknown> = { tracker };
  for (const m of METHODS) {
    facade[m] = (...args: unknown[]) => (tracker[m] as (...a: unknown[]) => unknown).apply(tracker, args);
  }
  const queue = stub._q;
  w.OpenReplay = facade as Stub;
  for (const [method, args, resolve] of queue) {
    const fn = facade[method];
    let result: unknown;
    try {
      result = typeof fn === "function" ? (fn as (...a: unknown[]) => unknown)(...args) : undefined;
    } catch (err) {
      result = undefined;
      (win.console.error as (...a: unknown[]) => void)(`ReplayLink: ${method}() failed: ${String(err)}`);
    }
    resolve?.(result);
  }
}

const current = typeof document !== "undefined" ? (document.currentScript as HTMLScriptElement | null) : null;
install(window, current?.src ?? null);
