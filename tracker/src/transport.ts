/** Batches to `POST /ingest/v1/batches`: flush every few seconds or at a size, gzip, split, retry, beacon.
 *
 * Chunks wait in a bounded queue and are sent one at a time, in order. A chunk gets its tab and `seq` when
 * first handed to the network (never for a chunk split or dropped before that) and keeps them across retries,
 * so the server can drop repeats of (session, tab, seq). */

export interface TransportConfig {
  /** absolute URL of the batches endpoint */
  url: string;
  flushIntervalMs: number;
  /** flush when this many raw bytes are waiting */
  flushBytes: number;
  /** largest request body sent (compressed size when gzip is available) */
  maxRequestBytes: number;
  /** most raw bytes kept waiting (queued and in the open chunk); past it the oldest chunks are dropped */
  maxQueueBytes: number;
}

/** Where a batch goes in the session: this tab's id and its sequence number there. */
export interface Slot {
  tab: string;
  seq: number;
}

export interface TransportHost {
  token(): string | null;
  /** the tab and its next seq; `take` allocates (and persists) it */
  next(take: boolean): Slot;
  pageUrl(): string;
  onUnauthorized(): void;
  onFatal(code: string): void;
  /** Data was dropped: mark the gap (`why`, unless empty) and, if `snapshot`, take a full snapshot so the replay
   * can resume. Called from a timer (never while an event is being added), at most once per interval when it
   * asks for a snapshot (the interval doubles, up to a minute, until a chunk with a full snapshot is delivered). */
  onOverflow(why: string, snapshot: boolean): void;
  warn(kind: string, message: string): void;
}

export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

interface Chunk {
  events: string[];
  devtools: string[];
  bytes: number;
  page: string;
  /** indexes of the full snapshots in `events` */
  full?: number[];
  at?: Slot;
  keepaliveInFlight?: boolean;
}

/** A beacon / keepalive body above this does not fit the browser's 64 KB unload budget. */
export const UNLOAD_MAX_BYTES = 60_000;
const MAX_BACKOFF_MS = 30_000;
const MAX_SNAPSHOT_GAP_MS = 60_000;
/** rrweb event types the queue cares about */
const FULL_SNAPSHOT = 2;
const META = 4;

function emptyChunk(page: string): Chunk {
  return { events: [], devtools: [], bytes: 0, page };
}

/** Halves a chunk (events first, then devtools); null when it holds one item only. */
export function splitChunk(chunk: Chunk): [Chunk, Chunk] | null {
  const part = (events: string[], devtools: string[], from = 0): Chunk => {
    const c: Chunk = { events, devtools, page: chunk.page, bytes: [...events, ...devtools].reduce((n, s) => n + s.length + 1, 0) };
    const full = chunk.full?.filter((i) => i >= from && i < from + events.length).map((i) => i - from);
    if (full?.length) c.full = full;
    return c;
  };
  if (chunk.events.length >= 2) {
    const half = Math.ceil(chunk.events.length / 2);
    return [part(chunk.events.slice(0, half), chunk.devtools), part(chunk.events.slice(half), [], half)];
  }
  if (chunk.devtools.length >= 2) {
    const half = Math.ceil(chunk.devtools.length / 2);
    return [part(chunk.events, chunk.devtools.slice(0, half)), part([], chunk.devtools.slice(half))];
  }
  return null;
}

/** Parses Retry-After (seconds or an HTTP date) into milliseconds, within [1 s, 5 min]. */
export function retryAfterMs(value: string | null, now: number): number {
  let ms = 10_000;
  if (value) {
    const seconds = Number(value);
    if (Number.isFinite(seconds)) ms = seconds * 1000;
    else {
      const at = Date.parse(value);
      if (Number.isFinite(at)) ms = at - now;
    }
  }
  return Math.min(300_000, Math.max(1000, ms));
}

export async function gzip(data: Uint8Array): Promise<Uint8Array | null> {
  if (typeof CompressionStream === "undefined" || typeof Blob === "undefined") return null;
  try {
    const stream = new Blob([data as BlobPart]).stream().pipeThrough(new CompressionStream("gzip"));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  } catch {
    return null;
  }
}

export class Transport {
  private buffer: Chunk;
  private queue: Chunk[] = [];
  private queuedBytes = 0;
  private busy = false;
  private attempts = 0;
  private retryAt = 0;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private interval: ReturnType<typeof setInterval> | undefined;
  private stopped = false;
  /** overflow notices for the host: the gap to mark, whether a snapshot is wanted, when the last one was taken */
  private lostTimer: ReturnType<typeof setTimeout> | undefined;
  private lostWhy = "";
  private wantSnapshot = false;
  private snapshotAt = -Infinity;
  private snapshotGap = 0;
  /** for tests and benchmarks */
  readonly stats = { requests: 0, bytesSent: 0, dropped: 0 };

  constructor(
    private readonly cfg: TransportConfig,
    private readonly host: TransportHost,
    private readonly send: FetchLike,
    private readonly beacon: ((url: string, body: Blob) => boolean) | null,
    private readonly now: () => number = () => Date.now(),
    private readonly compress: (data: Uint8Array) => Promise<Uint8Array | null> = gzip,
  ) {
    this.buffer = emptyChunk(host.pageUrl());
  }

  start(): void {
    this.stopped = false;
    if (this.interval === undefined) this.interval = setInterval(() => this.flush(), this.cfg.flushIntervalMs);
  }

  /** Stops timers and forgets everything waiting (after a fatal answer or a session change). */
  stop(): void {
    this.stopped = true;
    if (this.interval !== undefined) clearInterval(this.interval);
    this.interval = undefined;
    this.reset();
  }

  /** Drops everything waiting (the session it belonged to is gone). */
  reset(): void {
    this.queue = [];
    this.queuedBytes = 0;
    this.buffer = emptyChunk(this.host.pageUrl());
    this.attempts = 0;
    this.retryAt = 0;
    clearTimeout(this.retryTimer);
    clearTimeout(this.lostTimer);
    this.retryTimer = this.lostTimer = undefined;
    this.lostWhy = "";
    this.wantSnapshot = false;
  }

  /** Waiting bytes: the queue (with the chunk in flight) and the open chunk. */
  get pendingBytes(): number {
    return this.queuedBytes + this.buffer.bytes;
  }

  /** A recorded rrweb event (`type` its rrweb type: full snapshots are what a gap can resume from). */
  addEvent(json: string, type = 0): void {
    const b = this.buffer;
    if (type === FULL_SNAPSHOT) (b.full ??= []).push(b.events.length);
    b.events.push(json);
    this.grow(json.length + 1, type === META); // a Meta stays in the chunk of the full snapshot that follows it
  }

  addDevtools(json: string): void {
    this.buffer.devtools.push(json);
    this.grow(json.length + 1, false);
  }

  private grow(bytes: number, hold: boolean): void {
    if (this.stopped) return;
    this.buffer.bytes += bytes;
    if (!hold && (this.buffer.bytes >= this.cfg.flushBytes || this.pendingBytes > this.cfg.maxQueueBytes)) this.flush();
  }

  /** Closes the current chunk and sends what is waiting. */
  flush(): void {
    if (this.stopped) return;
    this.close();
    void this.pump();
  }

  /** The network is back (`online`): a retry waiting for its backoff goes now. */
  retryNow(): void {
    if (this.retryTimer === undefined || this.stopped) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.retryAt = 0;
    void this.pump();
  }

  private close(): void {
    if (this.buffer.bytes === 0) return;
    this.queue.push(this.buffer);
    this.queuedBytes += this.buffer.bytes;
    this.buffer = emptyChunk(this.host.pageUrl());
    this.trim();
  }

  /** Keeps the queue within `maxQueueBytes` (never touching the chunk in flight): drops first the oldest chunks
   * that a later full snapshot supersedes; past the last snapshot, everything (events after a gap only replay
   * against a page that is gone) and asks for a new snapshot. A newest chunk holding the only snapshot stays. */
  private trim(): void {
    const q = this.queue;
    const first = this.busy ? 1 : 0;
    let dropped = 0;
    let resume = false;
    const dropOldest = () => {
      const [gone] = q.splice(first, 1);
      this.queuedBytes -= gone!.bytes;
      dropped += gone!.events.length + gone!.devtools.length;
    };
    while (this.pendingBytes > this.cfg.maxQueueBytes && q.length > first) {
      let last = q.length - 1;
      while (last > first && !q[last]!.full) last--;
      if (last > first) dropOldest(); // superseded by the snapshot at `last`
      else if (last === q.length - 1 && q[last]!.full) break;
      else {
        while (q.length > first) dropOldest();
        resume = true;
      }
    }
    if (!dropped) return;
    this.stats.dropped += dropped;
    this.host.warn("overflow", "ReplayLink: the upload queue is full (server unreachable?); dropped the oldest events.");
    if (resume) this.lost("queue full", true);
  }

  /** Tells the host about dropped data later, from a timer; snapshots at most once per (doubling) interval. */
  private lost(why: string, snapshot: boolean): void {
    this.lostWhy = why;
    this.wantSnapshot ||= snapshot;
    if (this.lostTimer === undefined && !this.stopped) this.lostTimer = setTimeout(() => this.tellLost(), 0);
  }

  private tellLost(): void {
    this.lostTimer = undefined;
    if (this.stopped) return;
    const wait = this.snapshotAt + this.snapshotGap - this.now();
    const snapshot = this.wantSnapshot && wait <= 0;
    const why = this.lostWhy;
    this.lostWhy = "";
    if (snapshot) {
      this.wantSnapshot = false;
      this.snapshotAt = this.now();
      this.snapshotGap = Math.min(MAX_SNAPSHOT_GAP_MS, Math.max(this.cfg.flushIntervalMs, this.snapshotGap * 2));
    } else if (this.wantSnapshot) this.lostTimer = setTimeout(() => this.tellLost(), wait);
    if (why || snapshot) this.host.onOverflow(why, snapshot);
  }

  private body(chunk: Chunk, at: Slot): string {
    return (
      `{"v":1,"tab":${JSON.stringify(at.tab)},"seq":${at.seq},` +
      `"events":[${chunk.events.join(",")}],"devtools":[${chunk.devtools.join(",")}],` +
      `"page":{"url":${JSON.stringify(chunk.page)}}}`
    );
  }

  private async pack(chunk: Chunk, at: Slot): Promise<{ body: Uint8Array; gz: boolean }> {
    const raw = new TextEncoder().encode(this.body(chunk, at));
    const gz = await this.compress(raw);
    return { body: gz ?? raw, gz: !!gz };
  }

  private remove(chunk: Chunk): void {
    this.replace(chunk, []);
  }

  private replace(chunk: Chunk, parts: Chunk[]): void {
    const at = this.queue.indexOf(chunk);
    if (at < 0) return;
    this.queue.splice(at, 1, ...parts);
    this.queuedBytes += parts.reduce((n, p) => n + p.bytes, 0) - chunk.bytes;
  }

  private schedule(delay: number): void {
    this.retryAt = this.now() + delay;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.pump();
    }, delay);
  }

  private backoff(): void {
    this.attempts += 1;
    const base = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** (this.attempts - 1));
    this.schedule(Math.round(base * (0.5 + Math.random() * 0.5)));
  }

  /** Sends waiting chunks one at a time until the queue is empty or a retry is scheduled. */
  async pump(): Promise<void> {
    while (!this.busy && !this.stopped && this.now() >= this.retryAt && this.queue.length > 0) {
      const token = this.host.token();
      if (!token) return; // a new session is being started; its start flushes again
      const chunk = this.queue[0]!;
      this.busy = true;
      let again: boolean;
      try {
        again = await this.sendChunk(chunk, token);
      } finally {
        this.busy = false;
      }
      if (!again) return;
    }
  }

  /** One request; returns whether to go on with the next chunk now. */
  private async sendChunk(chunk: Chunk, token: string): Promise<boolean> {
    const peek = chunk.at ?? this.host.next(false);
    let { body, gz } = await this.pack(chunk, peek);
    if (this.queue[0] !== chunk) return !this.stopped; // sent by a beacon or dropped with its session meanwhile
    if (body.length > this.cfg.maxRequestBytes) {
      return this.splitOrDrop(chunk, "too large to send");
    }
    if (!chunk.at) {
      const at = (chunk.at = this.host.next(true));
      if (at.seq !== peek.seq || at.tab !== peek.tab) ({ body, gz } = await this.pack(chunk, at));
    }
    const headers: Record<string, string> = {
      Authorization: `Bearer ${token}`,
      "Content-Type": "application/json",
    };
    if (gz) headers["Content-Encoding"] = "gzip";
    const keepalive = body.length <= UNLOAD_MAX_BYTES;
    let res: Response;
    try {
      chunk.keepaliveInFlight = keepalive;
      this.stats.requests += 1;
      res = await this.send(this.cfg.url, {
        method: "POST",
        headers,
        body: body as BodyInit,
        keepalive,
        credentials: "omit",
        mode: "cors",
      });
    } catch {
      this.backoff();
      return false;
    } finally {
      chunk.keepaliveInFlight = false;
    }
    if (this.stopped) return false;
    const status = res.status;
    if (status >= 200 && status < 300) {
      this.stats.bytesSent += body.length;
      this.remove(chunk);
      this.attempts = 0;
      if (chunk.full) this.snapshotGap = 0; // the replay resumed: the next overflow may snapshot at once
      return true;
    }
    if (status === 400 || status === 422) {
      const code = await errorCode(res);
      if (status === 422 && code.startsWith("session_")) {
        this.host.onFatal(code);
        return false;
      }
      this.host.warn("malformed", `ReplayLink: the server refused a batch (${status} ${code}); it was dropped.`);
      this.remove(chunk);
      return true;
    }
    if (status === 401) {
      this.host.onUnauthorized();
      return false;
    }
    if (status === 403 || status === 404 || status === 405 || status === 409) {
      this.host.onFatal(status === 403 ? "origin_refused" : (await errorCode(res)) || `http_${status}`);
      return false;
    }
    if (status === 413) return this.splitOrDrop(chunk, "refused as too large");
    const retryAfter = res.headers.get("retry-after");
    if (status === 429 || (status === 503 && retryAfter)) {
      this.schedule(retryAfterMs(retryAfter, this.now()));
      return false;
    }
    this.backoff();
    return false;
  }

  /** Halves a chunk too large to send; a single event is dropped, and the gap marked. Unless it was a full
   * snapshot (a new one would be as large) or a devtools event, a new snapshot is asked for (rate-limited). */
  private splitOrDrop(chunk: Chunk, why: string): boolean {
    const parts = splitChunk(chunk);
    if (parts) this.replace(chunk, parts);
    else {
      const what = chunk.full ? "snapshot" : chunk.events.length ? "event" : "devtools event";
      this.host.warn("too-large", `ReplayLink: one recorded ${what} is ${why}; it was dropped.`);
      this.stats.dropped += 1;
      this.remove(chunk);
      this.lost(`${what} too large`, what === "event");
    }
    return true;
  }

  /** On pagehide: hand everything waiting to the browser synchronously (sendBeacon, else keepalive fetch),
   * within its unload budget, oldest first. Bodies are plain JSON (a beacon cannot say Content-Encoding).
   * What could not go stays queued (a page restored from the back/forward cache sends it later). */
  flushSync(): void {
    if (this.stopped) return;
    this.close();
    const token = this.host.token();
    if (!token) return;
    const url = `${this.cfg.url}${this.cfg.url.includes("?") ? "&" : "?"}token=${encodeURIComponent(token)}`;
    let budget = UNLOAD_MAX_BYTES;
    for (const original of this.queue.filter((c) => !c.keepaliveInFlight)) {
      const work = [original];
      const left: Chunk[] = [];
      while (work.length > 0) {
        const chunk = work.shift()!;
        const raw = this.body(chunk, chunk.at ?? this.host.next(false));
        if (raw.length > UNLOAD_MAX_BYTES) {
          const parts = splitChunk(chunk);
          if (parts) work.unshift(...parts);
          else left.push(chunk); // a single event above the budget cannot leave now
          continue;
        }
        let sent = raw.length <= budget;
        if (sent) {
          chunk.at ??= this.host.next(true); // synchronous: the slot the body was built with
          sent = this.unloadSend(url, raw);
        }
        if (!sent) {
          left.push(chunk, ...work);
          this.replace(original, left);
          return;
        }
        budget -= raw.length;
      }
      this.replace(original, left);
    }
  }

  private unloadSend(url: string, raw: string): boolean {
    const blob = new Blob([raw], { type: "text/plain;charset=UTF-8" });
    let sent = false;
    try {
      sent = this.beacon ? this.beacon(url, blob) : false;
    } catch {
      sent = false;
    }
    if (!sent) {
      try {
        this.send(url, { method: "POST", body: blob, keepalive: true, credentials: "omit", mode: "cors" }).catch(
          () => undefined,
        );
        sent = true;
      } catch {
        sent = false;
      }
    }
    if (sent) {
      this.stats.requests += 1;
      this.stats.bytesSent += raw.length;
    }
    return sent;
  }
}

async function errorCode(res: Response): Promise<string> {
  try {
    const data = (await res.json()) as { error?: { code?: unknown } };
    return typeof data?.error?.code === "string" ? data.error.code.slice(0, 64) : "";
  } catch {
    return "";
  }
}
