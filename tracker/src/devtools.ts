/** Devtools events (console, errors, page views), kept apart from rrweb's DOM events. */

import { truncate } from "./redact";

export type DevtoolsEvent =
  | { type: "page"; ts: number; url: string; title?: string }
  | {
      type: "network";
      ts: number;
      method: string;
      url: string;
      status: number;
      duration: number;
      requestSize?: number;
      responseSize?: number;
      failed: boolean;
      error?: string;
    }
  | { type: "console"; ts: number; level: "error" | "warn"; message: string }
  | {
      type: "error";
      ts: number;
      name: string;
      message: string;
      stack?: string;
      source: "uncaught" | "unhandledrejection" | "handled";
      metadata?: Record<string, string>;
    }
  | { type: "custom"; ts: number; name: string; payload: unknown };

export type DevtoolsSink = (event: DevtoolsEvent) => void;

const MAX_MESSAGE = 1000;
const MAX_STACK = 4000;

/** Allows `limit` events per `windowMs`, counting what it refused. */
export class Throttle {
  private start = 0;
  private count = 0;
  dropped = 0;

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
  ) {}

  allow(now: number): boolean {
    if (now - this.start >= this.windowMs) {
      this.start = now;
      this.count = 0;
    }
    if (this.count >= this.limit) {
      this.dropped += 1;
      return false;
    }
    this.count += 1;
    return true;
  }
}

/** Renders console arguments as one line of text, never throwing (cyclic objects, hostile getters). */
export function formatArgs(args: unknown[]): string {
  const parts: string[] = [];
  let length = 0;
  for (const arg of args) {
    let text: string;
    try {
      if (typeof arg === "string") text = arg;
      else if (arg instanceof Error) text = `${arg.name}: ${arg.message}`;
      else if (arg === undefined || typeof arg === "function" || typeof arg === "symbol") text = String(arg);
      else text = JSON.stringify(arg) ?? String(arg);
    } catch {
      text = Object.prototype.toString.call(arg);
    }
    parts.push(text);
    length += text.length + 1;
    if (length > MAX_MESSAGE) break;
  }
  return truncate(parts.join(" "), MAX_MESSAGE);
}

/** An error-like value as a devtools error event. */
export function errorEvent(
  value: unknown,
  source: "uncaught" | "unhandledrejection" | "handled",
  ts: number,
  metadata?: Record<string, string>,
): DevtoolsEvent {
  let name = "Error";
  let message: string;
  let stack: string | undefined;
  if (value && typeof value === "object" && "message" in value) {
    const e = value as { name?: unknown; message?: unknown; stack?: unknown };
    name = typeof e.name === "string" && e.name ? e.name : "Error";
    message = String(e.message);
    stack = typeof e.stack === "string" ? truncate(e.stack, MAX_STACK) : undefined;
  } else {
    message = formatArgs([value]);
  }
  const event: DevtoolsEvent = { type: "error", ts, name: truncate(name, 200), message: truncate(message, MAX_MESSAGE), source };
  if (stack) event.stack = stack;
  if (metadata) event.metadata = metadata;
  return event;
}

type ConsoleMethod = (...args: unknown[]) => void;

/** Hooks console.error/console.warn of `win` (throttled: 30 per 10 s). Returns the uninstall. */
export function captureConsole(win: Window, sink: DevtoolsSink, now: () => number): () => void {
  const con = (win as Window & { console: Console }).console;
  const throttle = new Throttle(30, 10_000);
  const restore: Array<() => void> = [];
  let inside = false;
  for (const level of ["error", "warn"] as const) {
    const orig = con[level] as ConsoleMethod;
    const hooked: ConsoleMethod = function (this: unknown, ...args: unknown[]) {
      if (!inside) {
        inside = true;
        try {
          if (throttle.allow(now())) sink({ type: "console", ts: now(), level, message: formatArgs(args) });
        } catch {
          /* never break the app's logging */
        } finally {
          inside = false;
        }
      }
      return orig.apply(this, args);
    };
    con[level] = hooked;
    restore.push(() => {
      if (con[level] === hooked) con[level] = orig;
    });
  }
  return () => restore.forEach((r) => r());
}

/** Uncaught errors and unhandled rejections (throttled: 20 per 10 s). Returns the uninstall. */
export function captureErrors(win: Window, sink: DevtoolsSink, now: () => number): () => void {
  const throttle = new Throttle(20, 10_000);
  const onError = (e: Event) => {
    const ev = e as ErrorEvent;
    if (!("message" in ev) || !throttle.allow(now())) return; // resource load errors carry no message
    sink(errorEvent(ev.error ?? { name: "Error", message: ev.message }, "uncaught", now()));
  };
  const onRejection = (e: Event) => {
    if (!throttle.allow(now())) return;
    sink(errorEvent((e as PromiseRejectionEvent).reason, "unhandledrejection", now()));
  };
  win.addEventListener("error", onError);
  win.addEventListener("unhandledrejection", onRejection);
  return () => {
    win.removeEventListener("error", onError);
    win.removeEventListener("unhandledrejection", onRejection);
  };
}

/** Calls `onPage` after SPA navigations (pushState, replaceState to a new URL, popstate, hashchange). */
export function watchNavigation(win: Window, onPage: () => void): () => void {
  const history = win.history;
  const push = history.pushState;
  const replace = history.replaceState;
  history.pushState = function (this: History, ...args: Parameters<History["pushState"]>) {
    const out = push.apply(this, args);
    onPage();
    return out;
  };
  history.replaceState = function (this: History, ...args: Parameters<History["replaceState"]>) {
    const out = replace.apply(this, args);
    onPage();
    return out;
  };
  win.addEventListener("popstate", onPage);
  win.addEventListener("hashchange", onPage);
  return () => {
    win.removeEventListener("popstate", onPage);
    win.removeEventListener("hashchange", onPage);
  };
}
