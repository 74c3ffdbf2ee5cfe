/** `Tracker`: OpenReplay's API over rrweb recording, the session token and ReplayLink's batch protocol. */

import { type DevtoolsEvent, captureConsole, captureErrors, errorEvent, watchNavigation } from "./devtools";
import type { TokenHeaders } from "./headers";
import { type NetworkHooks, type NetworkRecord, installNetwork, originalFetch } from "./network";
import {
  DEFAULT_HEADER,
  type StartOptions,
  type StartResult,
  type TrackerOptions,
  type Win,
} from "./options";
import { compileOrigins, type OriginTest } from "./origins";
import { DROP_TAG, EventType, Recorder, type RrwebEvent, isUserActivity } from "./recorder";
import { redactUrl, truncate } from "./redact";
import { type SessionState, SessionStore, randomId } from "./session";
import { type Slot, Transport, retryAfterMs } from "./transport";

export const VERSION = "0.1.0";

interface StartAnswer {
  sessionId: string;
  token: string;
  expiresAt: string | number;
  projectId?: number;
  serverTime?: number;
  batch?: { url?: string; flushIntervalMs?: number; maxRawBytes?: number; maxCompressedBytes?: number };
}

const FLUSH_BYTES = 256 * 1024;
const MAX_REQUEST_BYTES = 1024 * 1024;
const MAX_QUEUE_BYTES = 4 * 1024 * 1024;
const EXPIRY_MARGIN_MS = 60_000;
const MAX_META = 20;
const MAX_RETRY_MS = 60_000;

/** A failed session start: `retry` when worth trying again (network error, 5xx, 429), `wait` from Retry-After. */
interface Refusal {
  reason: string;
  retry: boolean;
  wait?: number;
}

function trimBase(url: string): string {
  return url.replace(/\/+$/, "");
}

function toMs(value: string | number): number {
  return typeof value === "number" ? (value < 1e12 ? value * 1000 : value) : Date.parse(value);
}

export class Tracker {
  private readonly win: Win;
  private readonly opts: TrackerOptions;
  private readonly ingest: string;
  private readonly ingestOrigin: string | null;
  private readonly store: SessionStore;
  private readonly tokenOrigins: OriginTest;
  private readonly warned = new Set<string>();
  private state: SessionState | null = null;
  private active = false;
  private starting: Promise<StartResult> | null = null;
  private transport: Transport | null = null;
  private recorder: Recorder | null = null;
  private offset = 0;
  private userID: string | undefined;
  private metadata: Record<string, string> = {};
  private lastPage = "";
  private lastSaved = 0;
  private restarting = false;
  private quiet = false;
  private uninstall: Array<() => void> = [];
  private syncTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly hooks: NetworkHooks;
  /** start() was called and stop() was not: session starts are retried while the server cannot be reached */
  private wanted = false;
  /** this page holds its tab's record (false in a frame of a recorded page of the same origin) */
  private owner = false;
  private retries = 0;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private offOnline: (() => void) | null = null;

  constructor(options: TrackerOptions, win: Win = window) {
    if (!options || typeof options.projectKey !== "string" || !options.projectKey) {
      throw new Error("ReplayLink: new Tracker({projectKey, ingestPoint}) needs the project key.");
    }
    if (typeof options.ingestPoint !== "string" || !/^https?:\/\//i.test(options.ingestPoint)) {
      throw new Error("ReplayLink: ingestPoint must be the ReplayLink server's URL, e.g. https://replaylink.example.com");
    }
    this.win = win;
    this.opts = options;
    this.ingest = trimBase(options.ingestPoint);
    this.ingestOrigin = new URL(this.ingest).origin;
    this.store = new SessionStore(win, options.projectKey);
    this.tokenOrigins = compileOrigins(options.network?.tokenOrigins, (p) =>
      this.warn("origin", `ReplayLink: tokenOrigins entry ${JSON.stringify(p)} is not an origin like https://api.example.com or https://*.example.com; ignored.`),
    );
    this.hooks = {
      tokenFor: (url) => this.tokenFor(url),
      record: (rec) => this.recordNetwork(rec),
      isIngest: (url) => this.isIngest(url),
    };
  }

  // ------------------------------------------------------------------ public API (OpenReplay's names)

  /** Starts (or continues, in this tab) the session; resolves `{success, ...}`, never rejects. When the server
   * cannot be reached (network error, 5xx, 429) it resolves `{success: false}` after that first attempt and
   * keeps trying in the background (backoff up to a minute, at once when the browser comes back online) until
   * a session starts or `stop()`; then the tracker records and hands out the token as if that start succeeded. */
  start(options: StartOptions = {}): Promise<StartResult> {
    if (options && typeof options === "object") {
      if (options.userID !== undefined && options.userID !== null) this.userID = String(options.userID).slice(0, 256);
      if (options.metadata && typeof options.metadata === "object") {
        for (const [k, v] of Object.entries(options.metadata)) this.putMeta(k, v);
      }
    }
    this.wanted = true;
    if (this.active && this.state) return Promise.resolve(this.ok(this.state));
    return this.attempt();
  }

  /** Stops recording (and retrying) and sends what is waiting; the tab keeps the session for a later start(). */
  stop(): void {
    this.wanted = false;
    this.cancelRetry();
    if (!this.active) return;
    this.active = false;
    this.recorder?.flush();
    this.transport?.flushSync();
    this.release();
    this.teardown();
    this.state = null;
  }

  isActive(): boolean {
    return this.active;
  }

  /** The token to send to your backend (`X-OpenReplay-SessionToken`); null until the session has started. */
  getSessionToken(): string | null {
    return this.active && this.state ? this.state.token : null;
  }

  getSessionID(): string | null {
    return this.active && this.state ? this.state.sessionId : null;
  }

  /** The session's page in the ReplayLink dashboard. */
  getSessionURL(): string | null {
    const s = this.active ? this.state : null;
    if (!s || s.projectId === null) return null;
    return `${this.ingest}/projects/${s.projectId}/sessions/${s.sessionId}`;
  }

  setUserID(id: string): void {
    if (id === undefined || id === null) return;
    this.userID = String(id).slice(0, 256);
    this.syncSession();
  }

  setMetadata(key: string, value: string): void {
    if (this.putMeta(key, value)) this.syncSession();
  }

  /** A custom event on the session's timeline. */
  event(name: string, payload?: unknown): void {
    if (!this.active || typeof name !== "string" || !name) return;
    this.devtools({ type: "custom", ts: this.now(), name: truncate(name, 200), payload: payload ?? null });
  }

  /** An error your code caught, with optional string metadata. */
  handleError(error: unknown, metadata?: Record<string, string>): void {
    if (!this.active) return;
    let meta: Record<string, string> | undefined;
    if (metadata && typeof metadata === "object") {
      meta = {};
      for (const [k, v] of Object.entries(metadata).slice(0, MAX_META)) meta[truncate(k, 64)] = truncate(String(v), 1024);
    }
    this.devtools(errorEvent(error, "handled", this.now(), meta));
  }

  // ------------------------------------------------------------------ session

  private ok(s: SessionState): StartResult {
    return { success: true, sessionID: s.sessionId, sessionToken: s.token };
  }

  private putMeta(key: unknown, value: unknown): boolean {
    if (typeof key !== "string" || !key || key.length > 64) return false;
    if (!(key in this.metadata) && Object.keys(this.metadata).length >= MAX_META) return false;
    this.metadata[key] = String(value).slice(0, 1024);
    return true;
  }

  private now(): number {
    return Date.now() + this.offset;
  }

  private idleMs(): number {
    return (this.opts.sessionIdleMinutes ?? 30) * 60_000;
  }

  private attempt(): Promise<StartResult> {
    this.cancelRetry();
    if (!this.starting) {
      this.starting = this.begin().finally(() => {
        this.starting = null;
      });
    }
    return this.starting;
  }

  private async begin(): Promise<StartResult> {
    try {
      if (typeof this.win.fetch !== "function" || typeof this.win.MutationObserver !== "function") {
        return { success: false, reason: "This browser lacks fetch or MutationObserver; not recording." };
      }
      const stored = this.store.load();
      const usable = stored && Date.now() - stored.lastActivity < this.idleMs() && stored.expiresAt - EXPIRY_MARGIN_MS > this.now();
      const answer = await this.requestSession(usable ? stored.token : undefined);
      if (!this.wanted) return { success: false, reason: "ReplayLink was stopped before the session started." };
      if ("reason" in answer) {
        if (answer.retry) this.later(() => void this.attempt(), answer.wait);
        return { success: false, reason: answer.retry ? `${answer.reason} (retrying)` : answer.reason };
      }
      this.retries = 0;
      const state = this.adopt(answer.data, true);
      this.active = true;
      this.run(answer.data);
      return this.ok(state);
    } catch (err) {
      if (this.active) {
        this.active = false;
        this.teardown();
        this.state = null;
      }
      return { success: false, reason: `ReplayLink could not start: ${String(err)}` };
    }
  }

  private async requestSession(token?: string): Promise<{ data: StartAnswer } | Refusal> {
    const body: Record<string, unknown> = {
      projectKey: this.opts.projectKey,
      url: redactUrl(this.win.location.href),
      userAgent: (this.win.navigator?.userAgent ?? "").slice(0, 1024),
    };
    if (this.userID) body.userId = this.userID;
    if (Object.keys(this.metadata).length) body.metadata = { ...this.metadata };
    if (token) body.token = token;
    let res: Response;
    const sentAt = Date.now();
    try {
      res = await originalFetch(this.win)(`${this.ingest}/ingest/v1/sessions`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
        credentials: "omit",
        mode: "cors",
      });
    } catch (err) {
      return { reason: `ReplayLink server unreachable at ${this.ingest}: ${String(err)}`, retry: true };
    }
    let data: unknown;
    try {
      data = await res.json();
    } catch {
      data = null;
    }
    if (!res.ok) {
      const message = (data as { error?: { message?: unknown } } | null)?.error?.message;
      const refusal: Refusal = {
        reason: `ReplayLink refused the session (${res.status}): ${typeof message === "string" ? message : res.statusText}`,
        retry: res.status >= 500 || res.status === 429,
      };
      const after = res.headers.get("retry-after");
      if (refusal.retry && after) refusal.wait = retryAfterMs(after, Date.now());
      return refusal;
    }
    const d = data as StartAnswer | null;
    if (!d || typeof d.token !== "string" || typeof d.sessionId !== "string") {
      return { reason: "ReplayLink answered the session start without a token.", retry: false };
    }
    if (typeof d.serverTime === "number") {
      const mid = (sentAt + Date.now()) / 2;
      this.offset = Math.round(d.serverTime - mid);
      if (Math.abs(this.offset) < 500) this.offset = 0;
    }
    return { data: d };
  }

  /** Takes the started session; `claim` (at start) decides this page's tab, else (a new session of this page)
   * the tab stays and its seq starts at 0. The record is read again here, after the request: a page of this tab
   * that was leaving has let go of it by now. */
  private adopt(d: StartAnswer, claim: boolean): SessionState {
    const stored = this.store.load();
    const same = stored && stored.sessionId === d.sessionId ? stored : null;
    const tab = this.state?.tab;
    const at = claim || !tab ? this.claim(stored, d.sessionId) : { tab, seq: 0 };
    const expiresAt = toMs(d.expiresAt);
    const state: SessionState = {
      sessionId: d.sessionId,
      token: d.token,
      projectId: typeof d.projectId === "number" ? d.projectId : (same ? same.projectId : null),
      expiresAt: Number.isFinite(expiresAt) ? expiresAt : this.now() + 3600_000,
      lastActivity: Date.now(),
      seq: at.seq,
      tab: at.tab,
      live: true,
    };
    this.state = state;
    if (this.owner) this.store.save(state);
    return state;
  }

  /** This page's tab: the one of the record, its seq going on, unless a live page holds it. Then the record was
   * copied with the opener's sessionStorage (`window.open`), or its page crashed: a top-level page takes a new id
   * for this tab; a frame of a recorded page (same origin, same sessionStorage) records under an id of its own
   * without taking the tab's record. A reload of a discarded tab keeps its id (the discarded page never hid). */
  private claim(stored: SessionState | null, sessionId: string): Slot {
    const discarded = (this.win.document as Document & { wasDiscarded?: boolean }).wasDiscarded === true;
    if (stored?.tab && (!stored.live || discarded)) {
      this.owner = true;
      return { tab: stored.tab, seq: stored.sessionId === sessionId ? stored.seq : 0 };
    }
    this.owner = !stored?.live || this.win === this.win.top;
    return { tab: randomId(this.win), seq: 0 };
  }

  /** Saves the record, unless this page does not hold the tab (a frame, or another page took the tab since). */
  private persist(): void {
    const s = this.state;
    if (!s || !this.owner) return;
    const stored = this.store.load();
    if (stored?.live && stored.tab && stored.tab !== s.tab) {
      this.owner = false;
      return;
    }
    this.store.save(s);
    this.lastSaved = Date.now();
  }

  /** The page hides or stops recording: a page loaded next in this tab may take the tab, with its seq. */
  private release(): void {
    if (!this.state) return;
    this.state.live = false;
    this.persist();
  }

  /** Back from the back/forward cache: the tab again, its seq past what the pages shown meanwhile used. */
  private reclaim(): void {
    const s = this.state;
    if (!s || !this.owner) return;
    const stored = this.store.load();
    if (stored && stored.tab === s.tab) {
      if (!stored.live && stored.sessionId === s.sessionId) s.seq = Math.max(s.seq, stored.seq);
      else {
        s.tab = randomId(this.win); // its seq in this session cannot be followed
        s.seq = 0;
      }
    }
    s.live = true;
    this.store.save(s);
  }

  /** Tries again later: Retry-After when given, else backoff from 1 s to a minute; at once on `online`. */
  private later(again: () => void, wait?: number): void {
    this.cancelRetry();
    const go = () => {
      this.cancelRetry();
      again();
    };
    const delay = wait ?? Math.min(MAX_RETRY_MS, 1000 * 2 ** this.retries++) * (0.5 + Math.random() * 0.5);
    this.retryTimer = setTimeout(go, delay);
    this.win.addEventListener("online", go);
    this.offOnline = () => this.win.removeEventListener("online", go);
  }

  private cancelRetry(): void {
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.offOnline?.();
    this.offOnline = null;
  }

  /** Starts recording, hooks and the transport for the adopted session. */
  private run(d: StartAnswer): void {
    const batch = d.batch ?? {};
    const rawUrl = typeof batch.url === "string" ? batch.url : "/ingest/v1/batches";
    const url = /^https?:\/\//i.test(rawUrl) ? rawUrl : `${this.ingest}${rawUrl.startsWith("/") ? "" : "/"}${rawUrl}`;
    const interval = Math.min(60_000, Math.max(1000, batch.flushIntervalMs ?? 5000));
    const flushBytes = Math.min(FLUSH_BYTES, batch.maxRawBytes ?? FLUSH_BYTES);
    const maxRequest = Math.min(MAX_REQUEST_BYTES, batch.maxCompressedBytes ?? MAX_REQUEST_BYTES);
    this.transport = new Transport(
      { url, flushIntervalMs: interval, flushBytes, maxRequestBytes: maxRequest, maxQueueBytes: MAX_QUEUE_BYTES },
      {
        token: () => (this.restarting ? null : (this.state?.token ?? null)),
        next: (take) => this.slot(take),
        pageUrl: () => redactUrl(this.win.location.href),
        onUnauthorized: () => void this.renew("unauthorized"),
        onFatal: (code) => this.fatal(code),
        onOverflow: (why, snapshot) => {
          if (why) this.onRrweb({ type: EventType.Custom, timestamp: Date.now(), data: { tag: DROP_TAG, payload: { dropped: why } } });
          if (snapshot) this.recorder?.fullSnapshot();
        },
        warn: (kind, message) => this.warn(kind, message),
      },
      (input, init) => originalFetch(this.win)(input, init),
      typeof this.win.navigator?.sendBeacon === "function" ? (u, b) => this.win.navigator.sendBeacon(u, b) : null,
      () => Date.now(),
    );
    this.transport.start();
    this.recorder = new Recorder(this.win, {
      emit: (e) => this.onRrweb(e),
      maskAllInputs: this.opts.maskAllInputs ?? true,
      obscureTextEmails: this.opts.obscureTextEmails ?? true,
      obscureTextNumbers: this.opts.obscureTextNumbers ?? false,
      maskTextSelector: this.opts.maskTextSelector,
      blockSelector: this.opts.blockSelector,
      checkoutEveryMs: this.opts.checkoutEveryMs ?? 5 * 60_000,
      mutationLimit: this.opts.mutationLimit ?? 10_000,
      mutationBatchMs: this.opts.mutationBatchMs ?? 100,
    });
    this.installHooks();
    this.lastPage = "";
    this.pageView();
    this.recorder.start();
  }

  private installHooks(): void {
    if (this.uninstall.length) return;
    const sink = (e: DevtoolsEvent) => this.devtools(e);
    const now = () => this.now();
    this.uninstall.push(installNetwork(this.win, () => (this.active ? this.hooks : null)));
    if (this.opts.consoleCapture !== false) this.uninstall.push(captureConsole(this.win, sink, now));
    if (this.opts.captureExceptions !== false) this.uninstall.push(captureErrors(this.win, sink, now));
    this.uninstall.push(watchNavigation(this.win, () => this.pageView()));
    const onHide = () => {
      this.recorder?.flush();
      this.transport?.flushSync();
      this.release();
    };
    const onOnline = () => this.transport?.retryNow();
    const onVisibility = () => {
      if (this.win.document.visibilityState === "hidden") {
        this.saveActivity(true);
        this.recorder?.flush();
        this.transport?.flush();
      }
    };
    const onShow = (e: Event) => {
      if (!(e as PageTransitionEvent).persisted) return;
      this.reclaim(); // back/forward cache
      this.recorder?.fullSnapshot();
    };
    this.win.addEventListener("pagehide", onHide);
    this.win.document.addEventListener("visibilitychange", onVisibility);
    this.win.addEventListener("pageshow", onShow);
    this.win.addEventListener("online", onOnline);
    this.uninstall.push(() => {
      this.win.removeEventListener("pagehide", onHide);
      this.win.document.removeEventListener("visibilitychange", onVisibility);
      this.win.removeEventListener("pageshow", onShow);
      this.win.removeEventListener("online", onOnline);
    });
  }

  private teardown(): void {
    this.recorder?.stop();
    this.recorder = null;
    this.transport?.stop();
    this.transport = null;
    for (const undo of this.uninstall.splice(0)) undo();
    if (this.syncTimer !== undefined) clearTimeout(this.syncTimer);
    this.syncTimer = undefined;
    this.cancelRetry();
    this.restarting = false;
  }

  private fatal(code: string): void {
    this.warn(`fatal-${code}`, `ReplayLink stopped recording: the server answered ${code}.`);
    this.active = false;
    this.release();
    this.teardown();
    this.state = null;
    if (code === "origin_refused") this.store.clear();
  }

  /** A new session (idle timeout, token expiry, 401): drops what belonged to the old one, starts afresh. */
  private async renew(reason: string): Promise<void> {
    if (this.restarting || !this.active) return;
    this.restarting = true;
    if (reason !== "unauthorized") this.transport?.flushSync();
    this.transport?.reset();
    await this.restart();
  }

  /** Asks for the new session; again later while the server cannot be reached (nothing is recorded meanwhile). */
  private async restart(): Promise<void> {
    const answer = await this.requestSession(undefined);
    if (!this.active || !this.restarting) return;
    if ("reason" in answer && answer.retry) {
      this.later(() => void this.restart(), answer.wait);
      return;
    }
    this.restarting = false;
    if ("reason" in answer) {
      this.warn("renew", `ReplayLink: could not start a new session (${answer.reason}); stopped.`);
      this.fatal("session_start_failed");
      return;
    }
    this.retries = 0;
    this.adopt(answer.data, false);
    this.lastPage = "";
    this.pageView();
    this.recorder?.fullSnapshot();
    this.transport?.flush();
  }

  /** This tab's id and its next seq; `take` allocates (and saves) it. */
  private slot(take: boolean): Slot {
    const s = this.state!;
    const at = { tab: s.tab!, seq: s.seq };
    if (take) {
      s.seq += 1;
      this.persist();
    }
    return at;
  }

  private saveActivity(force: boolean): void {
    if (force || Date.now() - this.lastSaved > 5000) this.persist();
  }

  /** setUserID/setMetadata after start: the start endpoint with the token updates the session (debounced). */
  private syncSession(): void {
    if (!this.active || this.syncTimer !== undefined) return;
    this.syncTimer = setTimeout(() => {
      this.syncTimer = undefined;
      const s = this.state;
      if (this.active && s) void this.requestSession(s.token);
    }, 500);
  }

  // ------------------------------------------------------------------ events

  private onRrweb(event: RrwebEvent): void {
    const t = this.transport;
    const s = this.state;
    if (!t || !s || this.restarting) return;
    const now = Date.now();
    if (isUserActivity(event)) {
      if (now - s.lastActivity > this.idleMs()) {
        void this.renew("idle");
        return;
      }
      s.lastActivity = now;
      this.saveActivity(false);
    }
    if (this.expiring()) return;
    if (this.offset) event.timestamp += this.offset;
    if (event.type === 4) {
      const data = event.data as { href?: string };
      if (typeof data?.href === "string") data.href = redactUrl(data.href);
    }
    let json: string;
    try {
      json = JSON.stringify(event);
    } catch {
      return;
    }
    t.addEvent(json, event.type);
  }

  /** True (and a new session on its way) when the token is about to expire. */
  private expiring(): boolean {
    const s = this.state;
    if (!s || s.expiresAt - EXPIRY_MARGIN_MS > this.now()) return false;
    void this.renew("expired");
    return true;
  }

  private devtools(event: DevtoolsEvent): void {
    const t = this.transport;
    if (!t || this.restarting || this.quiet || this.expiring()) return;
    let json: string;
    try {
      json = JSON.stringify(event);
    } catch {
      json = JSON.stringify({ ...event, payload: null });
    }
    if (json.length > 16_384 && event.type === "custom") {
      json = JSON.stringify({ ...event, payload: { truncated: true } });
    }
    t.addDevtools(json);
  }

  private pageView(): void {
    const href = this.win.location.href;
    if (href === this.lastPage) return;
    this.lastPage = href;
    const title = this.win.document.title;
    const ev: DevtoolsEvent = { type: "page", ts: this.now(), url: redactUrl(href) };
    if (title) ev.title = truncate(title, 300);
    this.devtools(ev);
  }

  private recordNetwork(rec: NetworkRecord): void {
    if (this.opts.network?.capture === false) return;
    let url: string | null = redactUrl(rec.url);
    const sanitize = this.opts.network?.sanitizeUrl;
    if (sanitize) {
      try {
        url = sanitize(url);
      } catch {
        url = null;
      }
      if (url === null) return;
      url = redactUrl(String(url));
    }
    const ev: DevtoolsEvent = {
      type: "network",
      ts: rec.ts + this.offset,
      method: rec.method.slice(0, 16),
      url,
      status: rec.status,
      duration: rec.duration,
      failed: rec.status === 0 || rec.status >= 400,
    };
    if (rec.requestSize !== undefined) ev.requestSize = rec.requestSize;
    if (rec.responseSize !== undefined) ev.responseSize = rec.responseSize;
    if (rec.error) ev.error = truncate(rec.error, 300);
    this.devtools(ev);
  }

  // ------------------------------------------------------------------ header injection

  private isIngest(url: URL): boolean {
    if (url.href.startsWith(`${this.ingest}/ingest/`)) return true;
    return url.origin === this.ingestOrigin && this.ingestOrigin !== this.win.location.origin;
  }

  private tokenFor(url: URL): TokenHeaders | null {
    const token = this.getSessionToken();
    if (!token) return null;
    const net = this.opts.network ?? {};
    const name = net.sessionTokenHeader === undefined ? DEFAULT_HEADER : net.sessionTokenHeader;
    const baggage = net.baggage === true;
    if (!name && !baggage) return null;
    if (url.protocol !== "http:" && url.protocol !== "https:") return null;
    if (this.isIngest(url)) return null;
    if (url.origin !== this.win.location.origin && !this.tokenOrigins(url.origin)) return null;
    return { name: name || false, token, baggage };
  }

  private warn(kind: string, message: string): void {
    if (this.opts.verbose === false || this.warned.has(kind)) return;
    this.warned.add(kind);
    this.quiet = true; // the tracker's own warnings are not recorded as the page's console
    try {
      (this.win.console.warn as (...a: unknown[]) => void).call(this.win.console, message);
    } catch {
      /* no console */
    } finally {
      this.quiet = false;
    }
  }
}
