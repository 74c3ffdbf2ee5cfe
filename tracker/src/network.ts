/** fetch and XMLHttpRequest hooks: the token header for allowed origins, and network devtools events.
 *
 * Installed once per window; each hook asks the active tracker (through `NetworkHooks`) what to do, and
 * does nothing else: arguments, bodies, Request objects, signals and responses pass through untouched. */

import { type TokenHeaders, mergeBaggage, withToken } from "./headers";

export interface NetworkRecord {
  method: string;
  url: string;
  status: number;
  duration: number;
  ts: number;
  requestSize?: number;
  responseSize?: number;
  error?: string;
}

export interface NetworkHooks {
  /** Headers to add to a request to `url`, or null (other origin, the ingest point, no session). */
  tokenFor(url: URL): TokenHeaders | null;
  /** A finished request (never called for the tracker's own requests to the ingest point). */
  record(rec: NetworkRecord): void;
  isIngest(url: URL): boolean;
}

type HookSource = () => NetworkHooks | null;

interface Installed {
  fetch: typeof fetch | undefined;
  sources: Set<HookSource>;
}

const KEY = "__replaylinkNetwork";

type WithKey = Window & { [KEY]?: Installed };

/** The fetch the tracker itself uses (the one before any hook of ours). */
export function originalFetch(win: Window): typeof fetch {
  const installed = (win as WithKey)[KEY];
  return (installed?.fetch ?? win.fetch).bind(win);
}

function active(installed: Installed): NetworkHooks | null {
  for (const source of installed.sources) {
    const hooks = source();
    if (hooks) return hooks;
  }
  return null;
}

function resolve(win: Window, raw: string): URL | null {
  try {
    return new URL(raw, win.document.baseURI);
  } catch {
    return null;
  }
}

function bodySize(body: unknown): number | undefined {
  if (body == null) return undefined;
  if (typeof body === "string") return body.length;
  if (typeof Blob !== "undefined" && body instanceof Blob) return body.size;
  if (body instanceof ArrayBuffer) return body.byteLength;
  if (ArrayBuffer.isView(body)) return body.byteLength;
  if (typeof URLSearchParams !== "undefined" && body instanceof URLSearchParams) return body.toString().length;
  return undefined;
}

function lengthHeader(value: string | null): number | undefined {
  if (!value) return undefined;
  const n = Number(value);
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}

function errorName(err: unknown): string {
  if (err && typeof err === "object" && "name" in err) {
    const e = err as { name?: unknown; message?: unknown };
    return `${String(e.name)}: ${String(e.message ?? "")}`.slice(0, 300);
  }
  return String(err).slice(0, 300);
}

function hookFetch(win: Window, installed: Installed): void {
  const orig = installed.fetch;
  if (!orig) return;
  const patched = function fetch(this: unknown, input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
    const hooks = active(installed);
    // eslint-disable-next-line prefer-rest-params
    if (!hooks) return orig.apply(win, arguments as unknown as [RequestInfo | URL, RequestInit?]);
    const isRequest = typeof Request !== "undefined" && input instanceof Request;
    const url = resolve(win, isRequest ? (input as Request).url : String(input));
    // eslint-disable-next-line prefer-rest-params
    let args = arguments as unknown as [RequestInfo | URL, RequestInit?];
    if (url) {
      const mode = init?.mode ?? (isRequest ? (input as Request).mode : undefined);
      const add = mode === "no-cors" ? null : hooks.tokenFor(url);
      if (add) {
        const base = init?.headers ?? (isRequest ? (input as Request).headers : undefined);
        args = [input, { ...init, headers: withToken(base, add) }];
      }
    }
    if (!url || hooks.isIngest(url)) return orig.apply(win, args);
    const method = (init?.method ?? (isRequest ? (input as Request).method : "GET")).toUpperCase();
    const ts = Date.now();
    const t0 = performance.now();
    const requestSize = bodySize(init?.body);
    const done = (status: number, responseSize?: number, error?: string) =>
      hooks.record({ method, url: url.href, status, ts, duration: Math.round(performance.now() - t0), requestSize, responseSize, error });
    return orig.apply(win, args).then(
      (res) => {
        done(res.status, lengthHeader(res.headers.get("content-length")));
        return res;
      },
      (err: unknown) => {
        done(0, undefined, errorName(err));
        throw err;
      },
    );
  };
  win.fetch = patched as typeof fetch;
}

interface XhrState {
  method: string;
  url: string;
  set: Map<string, string>;
}

function hookXhr(win: Window, installed: Installed): void {
  const Xhr = (win as Window & { XMLHttpRequest?: typeof XMLHttpRequest }).XMLHttpRequest;
  if (!Xhr) return;
  const proto = Xhr.prototype;
  const open = proto.open;
  const send = proto.send;
  const setHeader = proto.setRequestHeader;
  const state = new WeakMap<XMLHttpRequest, XhrState>();

  proto.open = function (this: XMLHttpRequest, method: string, url: string | URL) {
    state.set(this, { method: String(method).toUpperCase(), url: String(url), set: new Map() });
    // eslint-disable-next-line prefer-rest-params
    return open.apply(this, arguments as unknown as Parameters<typeof open>);
  } as typeof proto.open;

  proto.setRequestHeader = function (this: XMLHttpRequest, name: string, value: string) {
    const s = state.get(this);
    if (s) {
      const key = String(name).toLowerCase();
      const prev = s.set.get(key);
      s.set.set(key, prev === undefined ? String(value) : `${prev}, ${value}`);
    }
    return setHeader.call(this, name, value);
  };

  proto.send = function (this: XMLHttpRequest, body?: Document | XMLHttpRequestBodyInit | null) {
    const s = state.get(this);
    const hooks = active(installed);
    const url = s && hooks ? resolve(win, s.url) : null;
    if (s && hooks && url) {
      const add = hooks.tokenFor(url);
      if (add) {
        try {
          if (add.name && !s.set.has(add.name.toLowerCase())) setHeader.call(this, add.name, add.token);
          const baggage = s.set.get("baggage");
          if (add.baggage && mergeBaggage(baggage, add.token) !== (baggage ?? "").trim()) {
            // XHR appends to a header set twice (`a=1, ours`), which is exactly a baggage merge.
            setHeader.call(this, "baggage", mergeBaggage(null, add.token));
          }
        } catch {
          /* not OPENED (the app's send will throw the same error) */
        }
      }
      if (!hooks.isIngest(url)) {
        const xhr = this;
        const ts = Date.now();
        const t0 = performance.now();
        let error: string | undefined;
        const fail = (e: Event) => {
          error = e.type === "error" ? "network error" : e.type;
        };
        xhr.addEventListener("error", fail);
        xhr.addEventListener("abort", fail);
        xhr.addEventListener("timeout", fail);
        xhr.addEventListener("loadend", () => {
          let responseSize: number | undefined;
          try {
            responseSize = lengthHeader(xhr.getResponseHeader("content-length"));
          } catch {
            /* no headers */
          }
          hooks.record({
            method: s.method,
            url: url.href,
            status: xhr.status,
            ts,
            duration: Math.round(performance.now() - t0),
            requestSize: bodySize(body),
            responseSize,
            error: xhr.status === 0 ? (error ?? "network error") : undefined,
          });
        });
      }
    }
    // eslint-disable-next-line prefer-rest-params
    return send.apply(this, arguments as unknown as [body?: Document | XMLHttpRequestBodyInit | null]);
  };
}

/** Hooks fetch and XMLHttpRequest of `win` once; `source` is asked on every request. Returns an unregister. */
export function installNetwork(win: Window, source: HookSource): () => void {
  const w = win as WithKey;
  let installed = w[KEY];
  if (!installed) {
    installed = { fetch: typeof win.fetch === "function" ? win.fetch : undefined, sources: new Set() };
    w[KEY] = installed;
    hookFetch(win, installed);
    hookXhr(win, installed);
  }
  installed.sources.add(source);
  const mine = installed;
  return () => {
    mine.sources.delete(source);
  };
}
