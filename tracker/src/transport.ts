/** Batches to `POST /ingest/v1/batches`: flush every few seconds or at a size, gzip, split, retry, beacon.
 *
 * Chunks wait in a bounded queue and are sent one at a time, in order. A chunk gets its `seq` when first
 * sent and keeps it across retries, so the server can drop repeats of (session, tab, seq). */

export interface TransportConfig {
  /** absolute URL of the batches endpoint */
  url: string;
  tab: string;
  flushIntervalMs: number;
  /** flush when this many raw bytes are waiting */
  flushBytes: number;
  /** largest request body sent (compressed size when gzip is available) */
  maxRequestBytes: number;
  /** most raw bytes kept waiting (sent or retried); past it the oldest chunks are dropped */
  maxQueueBytes: number;
}

export interface TransportHost {
  token(): string | null;
  /** allocates (and persists) the next seq of this tab */
  nextSeq(): number;
  pageUrl(): string;
  onUnauthorized(): void;
  onFatal(code: string): void;
  /** data was dropped: the recorder should take a full snapshot so the replay can resume */
  onOverflow(): void;
  warn(kind: string, message: string): void;
}

export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

interface Chunk {
  events: string[];
  devtools: string[];
  bytes: number;
  page: string;
  seq?: number;
  keepaliveInFlight?: boolean;
}

/** A beacon / keepalive body above this does not fit the browser's 64 KB unload budget. */
export const UNLOAD_MAX_BYTES = 60_000;
const MAX_BACKOFF_MS = 30_000;

function emptyChunk(page: string): Chunk {
  return { events: [], devtools: [], bytes: 0, page };
}

/** Halves a chunk (events first, then devtools); null when it holds one item only. */
export function splitChunk(chunk: Chunk): [Chunk, Chunk] | null {
  const part = (events: string[], devtools: string[]): Chunk => ({
    events,
    devtools,
    page: chunk.page,
    bytes: [...events, ...devtools].reduce((n, s) => n + s.length + 1, 0),
  });
  if (chunk.events.length >= 2) {
    const half = Math.ceil(chunk.events.length / 2);
    return [part(chunk.events.slice(0, half), chunk.devtools), part(chunk.events.slice(half), [])];
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
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.interval = this.retryTimer = undefined;
    this.reset();
  }

  /** Drops everything waiting (the session it belonged to is gone). */
  reset(): void {
    this.queue = [];
    this.queuedBytes = 0;
    this.buffer = emptyChunk(this.host.pageUrl());
    this.attempts = 0;
    this.retryAt = 0;
  }

  get pendingBytes(): number {
    return this.queuedBytes + this.buffer.bytes;
  }

  addEvent(json: string): void {
    this.buffer.events.push(json);
    this.grow(json.length + 1);
  }

  addDevtools(json: string): void {
    this.buffer.devtools.push(json);
    this.grow(json.length + 1);
  }

  private grow(bytes: number): void {
    if (this.stopped) return;
    this.buffer.bytes += bytes;
    if (this.buffer.bytes >= this.cfg.flushBytes) this.flush();
  }

  /** Closes the current chunk and sends what is waiting. */
  flush(): void {
    if (this.stopped) return;
    this.close();
    void this.pump();
  }

  private close(): void {
    if (this.buffer.bytes === 0) return;
    this.queue.push(this.buffer);
    this.queuedBytes += this.buffer.bytes;
    this.buffer = emptyChunk(this.host.pageUrl());
    let dropped = false;
    while (this.queuedBytes > this.cfg.maxQueueBytes && this.queue.length > 1) {
      const victim = this.busy ? 1 : 0; // never the chunk in flight
      const [gone] = this.queue.splice(victim, 1);
      this.queuedBytes -= gone!.bytes;
      this.stats.dropped += gone!.events.length + gone!.devtools.length;
      dropped = true;
    }
    if (dropped) {
      this.host.warn("overflow", "ReplayLink: the upload queue is full (server unreachable?); dropped the oldest events.");
      this.host.onOverflow();
    }
  }

  private body(chunk: Chunk): string {
    if (chunk.seq === undefined) chunk.seq = this.host.nextSeq();
    return (
      `{"v":1,"tab":${JSON.stringify(this.cfg.tab)},"seq":${chunk.seq},` +
      `"events":[${chunk.events.join(",")}],"devtools":[${chunk.devtools.join(",")}],` +
      `"page":{"url":${JSON.stringify(chunk.page)}}}`
    );
  }

  private remove(chunk: Chunk): void {
    const at = this.queue.indexOf(chunk);
    if (at < 0) return;
    this.queue.splice(at, 1);
    this.queuedBytes -= chunk.bytes;
  }

  private replace(chunk: Chunk, parts: Chunk[]): void {
    const at = this.queue.indexOf(chunk);
    if (at < 0) return;
    this.queue.splice(at, 1, ...parts);
  }

  private schedule(delay: number): void {
    this.retryAt = this.now() + delay;
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
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
    const raw = new TextEncoder().encode(this.body(chunk));
    const gz = await this.compress(raw);
    const body = gz ?? raw;
    if (body.length > this.cfg.maxRequestBytes) {
      return this.splitOrDrop(chunk, "too large to send");
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
    if (status === 429) {
      this.schedule(retryAfterMs(res.headers.get("retry-after"), this.now()));
      return false;
    }
    this.backoff();
    return false;
  }

  private splitOrDrop(chunk: Chunk, why: string): boolean {
    const parts = splitChunk(chunk);
    if (parts) this.replace(chunk, parts);
    else {
      this.host.warn("too-large", `ReplayLink: one recorded event is ${why}; it was dropped.`);
      this.stats.dropped += 1;
      this.remove(chunk);
      this.host.onOverflow();
    }
    return true;
  }

  /** On pagehide: hand everything waiting to the browser synchronously (sendBeacon, else keepalive fetch),
   * within its unload budget, oldest first. Bodies are plain JSON (a beacon cannot say Content-Encoding). */
  flushSync(): void {
    if (this.stopped) return;
    this.close();
    const token = this.host.token();
    if (!token) return;
    const url = `${this.cfg.url}${this.cfg.url.includes("?") ? "&" : "?"}token=${encodeURIComponent(token)}`;
    let budget = UNLOAD_MAX_BYTES;
    for (const original of this.queue.filter((c) => !c.keepaliveInFlight)) {
      const work = [original];
      while (work.length > 0) {
        const chunk = work.shift()!;
        const raw = this.body(chunk);
        if (raw.length > UNLOAD_MAX_BYTES) {
          const parts = splitChunk(chunk);
          if (parts) work.unshift(...parts);
          continue; // a single event above the budget cannot leave now
        }
        if (raw.length > budget || !this.unloadSend(url, raw)) return;
        budget -= raw.length;
      }
      this.remove(original);
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
