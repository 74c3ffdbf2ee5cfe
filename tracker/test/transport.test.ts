import { gunzipSync, gzipSync } from "node:zlib";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Transport, type TransportConfig, type TransportHost, retryAfterMs, splitChunk } from "../src/transport";

interface Sent {
  url: string;
  init: RequestInit;
  body: { seq: number; tab: string; events: unknown[]; devtools: unknown[] };
}

/** The JSON of a sent body, decoded synchronously (so no real time has to pass in tests). */
function decode(init: RequestInit): Sent["body"] {
  let bytes = init.body as Uint8Array;
  if (new Headers(init.headers).get("content-encoding") === "gzip") bytes = new Uint8Array(gunzipSync(bytes));
  return JSON.parse(new TextDecoder().decode(bytes));
}

function setup(
  answers: Array<number | (() => Response) | Error>,
  cfg: Partial<TransportConfig> = {},
  compress: ((d: Uint8Array) => Promise<Uint8Array | null>) | undefined = async (d) => new Uint8Array(gzipSync(d)),
) {
  const sent: Sent[] = [];
  const calls = { unauthorized: 0, fatal: [] as string[], overflow: 0, gaps: [] as string[], warn: [] as string[] };
  let seq = 0;
  let token: string | null = "tok";
  const host: TransportHost = {
    token: () => token,
    next: (take) => ({ tab: "tab1", seq: take ? seq++ : seq }),
    pageUrl: () => "https://shop.test/",
    onUnauthorized: () => calls.unauthorized++,
    onFatal: (c) => calls.fatal.push(c),
    onOverflow: (why, snapshot) => {
      if (why) calls.gaps.push(why);
      if (snapshot) calls.overflow++;
    },
    warn: (k) => calls.warn.push(k),
  };
  const send = vi.fn(async (url: string, init: RequestInit) => {
    sent.push({ url, init, body: decode(init) });
    const next = answers.length > 1 ? answers.shift()! : answers[0]!;
    if (next instanceof Error) throw next;
    if (typeof next === "function") return next();
    return new Response(next === 204 ? null : JSON.stringify({ error: { code: "x" } }), { status: next });
  });
  const beacons: Array<{ url: string; body: Blob }> = [];
  const t = new Transport(
    {
      url: "https://rl.test/ingest/v1/batches",
      flushIntervalMs: 5000,
      flushBytes: 256 * 1024,
      maxRequestBytes: 1024 * 1024,
      maxQueueBytes: 4 * 1024 * 1024,
      ...cfg,
    },
    host,
    send,
    (url, body) => {
      beacons.push({ url, body });
      return true;
    },
    () => Date.now(),
    compress,
  );
  return { t, sent, calls, send, beacons, setToken: (v: string | null) => (token = v), seq: () => seq };
}

const ev = (i: number, pad = 0) => JSON.stringify({ type: 3, timestamp: 1000 + i, data: { source: 0, pad: "x".repeat(pad) } });

const realSetTimeout = globalThis.setTimeout;

/** Settles until `cond` holds (real time, at most 3 s). */
async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 600 && !cond(); i++) {
    await settle();
    await new Promise((r) => realSetTimeout(r, 5));
  }
}

/** Lets microtasks run without moving fake time. */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await vi.advanceTimersByTimeAsync(0);
}

describe("transport", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("flushes every interval with gzip, the bearer token and increasing seq", async () => {
    const { t, sent } = setup([204], {}, undefined); // CompressionStream, as in the browser
    t.start();
    t.addEvent(ev(1));
    t.addDevtools(JSON.stringify({ type: "page", ts: 1, url: "https://shop.test/" }));
    await vi.advanceTimersByTimeAsync(5000);
    await until(() => sent.length === 1);
    t.addEvent(ev(2));
    await vi.advanceTimersByTimeAsync(5000);
    await until(() => sent.length === 2);
    expect(sent).toHaveLength(2);
    const h = new Headers(sent[0]!.init.headers);
    expect(h.get("authorization")).toBe("Bearer tok");
    expect(h.get("content-encoding")).toBe("gzip");
    expect(sent[0]!.init.keepalive).toBe(true);
    expect(sent[0]!.init.credentials).toBe("omit");
    expect(sent.map((s) => s.body.seq)).toEqual([0, 1]);
    expect(sent[0]!.body).toMatchObject({ v: 1, tab: "tab1", page: { url: "https://shop.test/" } });
    expect(sent[0]!.body.devtools).toHaveLength(1);
    t.stop();
  });

  it("flushes at the raw size threshold without waiting for the timer", async () => {
    const { t, sent } = setup([204], { flushBytes: 10_000 });
    t.start();
    for (let i = 0; i < 20; i++) t.addEvent(ev(i, 1000));
    await settle();
    expect(sent.length).toBeGreaterThanOrEqual(1);
    expect(sent[0]!.body.events.length).toBeLessThan(20);
    t.stop();
  });

  it("retries 5xx and network errors with backoff, keeping the seq (idempotent)", async () => {
    const { t, sent } = setup([503, new TypeError("offline"), 204]);
    t.start();
    t.addEvent(ev(1));
    t.flush();
    await settle();
    expect(sent).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1100);
    await settle();
    expect(sent).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(2100);
    await settle();
    expect(sent).toHaveLength(3);
    expect(sent.map((s) => s.body.seq)).toEqual([0, 0, 0]);
    expect(t.pendingBytes).toBe(0);
    t.stop();
  });

  it("honours Retry-After on 429", async () => {
    const { t, sent } = setup([() => new Response(null, { status: 429, headers: { "Retry-After": "7" } }), 204]);
    t.start();
    t.addEvent(ev(1));
    t.flush();
    await settle();
    await vi.advanceTimersByTimeAsync(6000);
    await settle();
    expect(sent).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1500);
    await settle();
    expect(sent).toHaveLength(2);
    expect(retryAfterMs("Wed, 21 Oct 2099 07:28:00 GMT", Date.now())).toBe(300_000);
    expect(retryAfterMs(null, 0)).toBe(10_000);
    t.stop();
  });

  it("splits on 413 into batches with fresh seq numbers, in order", async () => {
    const { t, sent } = setup([413, 204]);
    t.start();
    for (let i = 0; i < 4; i++) t.addEvent(ev(i));
    t.flush();
    await settle();
    expect(sent.map((s) => [s.body.seq, s.body.events.length])).toEqual([
      [0, 4],
      [1, 2],
      [2, 2],
    ]);
    const order = sent.slice(1).flatMap((s) => s.body.events.map((e) => (e as { timestamp: number }).timestamp));
    expect(order).toEqual([1000, 1001, 1002, 1003]);
    t.stop();
  });

  it("splits before sending when the compressed body is over the request limit", async () => {
    const { t, sent } = setup([204], { maxRequestBytes: 400 });
    t.start();
    for (let i = 0; i < 8; i++) t.addEvent(JSON.stringify({ type: 3, timestamp: i, data: { r: Array.from({ length: 6 }, () => Math.random().toString(36).slice(2)).join("") } }));
    t.flush();
    await until(() => sent.reduce((n, s) => n + s.body.events.length, 0) >= 8);
    expect(sent.length).toBeGreaterThan(1);
    expect(sent.every((s) => (s.init.body as Uint8Array).length <= 400)).toBe(true);
    expect(sent.reduce((n, s) => n + s.body.events.length, 0)).toBe(8);
    t.stop();
  });

  it("drops a malformed batch (400) once warned, and goes on", async () => {
    const { t, sent, calls } = setup([400, 204]);
    t.start();
    t.addEvent(ev(1));
    t.flush();
    await settle();
    t.addEvent(ev(2));
    t.flush();
    await settle();
    expect(sent.map((s) => s.body.seq)).toEqual([0, 1]);
    expect(calls.warn).toEqual(["malformed"]);
    t.stop();
  });

  it("reports 401, 403 and session caps to the tracker", async () => {
    for (const [status, expected] of [
      [401, "unauthorized"],
      [403, "origin_refused"],
      [409, "session_too_large"],
    ] as const) {
      const answer = () => new Response(JSON.stringify({ error: { code: "session_too_large" } }), { status });
      const { t, calls } = setup([answer]);
      t.start();
      t.addEvent(ev(1));
      t.flush();
      await settle();
      if (expected === "unauthorized") expect(calls.unauthorized).toBe(1);
      else expect(calls.fatal).toEqual([expected]);
      t.stop();
    }
  });

  it("bounds the queue: drops the oldest chunks and asks for a full snapshot", async () => {
    const { t, calls } = setup([new TypeError("offline")], { maxQueueBytes: 50_000, flushBytes: 10_000 });
    t.start();
    for (let i = 0; i < 200; i++) t.addEvent(ev(i, 1000));
    await settle();
    expect(t.pendingBytes).toBeLessThanOrEqual(50_000 + 11_000);
    expect(calls.overflow).toBeGreaterThan(0);
    expect(t.stats.dropped).toBeGreaterThan(0);
    t.stop();
  });

  it("on pagehide sends what waits by sendBeacon with the token in the query, within 64 KB", async () => {
    const { t, beacons } = setup([204]);
    t.start();
    for (let i = 0; i < 100; i++) t.addEvent(ev(i, 1000)); // ~100 KB raw: more than one beacon can carry
    t.flushSync();
    expect(beacons.length).toBeGreaterThan(0);
    expect(beacons[0]!.url).toBe("https://rl.test/ingest/v1/batches?token=tok");
    expect(beacons[0]!.body.type).toBe("text/plain;charset=utf-8");
    const total = beacons.reduce((n, b) => n + b.body.size, 0);
    expect(total).toBeLessThanOrEqual(60_000);
    const first = JSON.parse(await beacons[0]!.body.text());
    expect(first.events[0].timestamp).toBe(1000); // oldest first
    t.stop();
  });

  it("waits while there is no token (a new session is starting)", async () => {
    const { t, sent, setToken } = setup([204]);
    setToken(null);
    t.start();
    t.addEvent(ev(1));
    t.flush();
    await settle();
    expect(sent).toHaveLength(0);
    setToken("tok2");
    t.flush();
    await settle();
    expect(new Headers(sent[0]!.init.headers).get("authorization")).toBe("Bearer tok2");
    t.stop();
  });

  it("splitChunk halves events first, then devtools, and refuses a single item", () => {
    const c = { events: ["a", "b", "c"], devtools: ["d"], bytes: 8, page: "p" };
    const [x, y] = splitChunk(c)!;
    expect([x.events, x.devtools, y.events, y.devtools]).toEqual([["a", "b"], ["d"], ["c"], []]);
    expect(splitChunk({ events: ["a"], devtools: [], bytes: 2, page: "p" })).toBeNull();
    const [p, q] = splitChunk({ events: ["m", "f", "i", "m2", "f2"], devtools: [], bytes: 12, page: "p", full: [1, 4] })!;
    expect([p.full, q.full]).toEqual([[1], [1]]); // where the full snapshots went
  });

  it("overflow: the snapshot is asked for later, never from inside addEvent, at most once per interval", async () => {
    const flushIntervalMs = 5000;
    let adding = 0;
    let nested = 0;
    let t: Transport;
    const snapshot = () => {
      t.addEvent(JSON.stringify({ type: 4, timestamp: 1, data: {} }), 4);
      t.addEvent(JSON.stringify({ type: 2, timestamp: 1, data: { pad: "s".repeat(20_000) } }), 2);
    };
    const made = setup([new TypeError("offline")], { maxQueueBytes: 50_000, flushBytes: 10_000, flushIntervalMs });
    t = made.t;
    const snaps: number[] = [];
    (made.t as unknown as { host: TransportHost }).host.onOverflow = (_why, snap) => {
      if (adding) nested++;
      if (!snap) return;
      snaps.push(Date.now());
      snapshot();
    };
    t.start();
    let peak = 0;
    for (let i = 0; i < 600; i++) {
      adding++;
      t.addEvent(ev(i, 1000));
      adding--;
      peak = Math.max(peak, t.pendingBytes);
      await vi.advanceTimersByTimeAsync(100); // 60 s of a page writing 10 KB/s while the server is down
    }
    expect(nested).toBe(0);
    expect(snaps.length).toBeGreaterThan(0);
    expect(snaps.length).toBeLessThanOrEqual(60_000 / flushIntervalMs);
    for (let i = 1; i < snaps.length; i++) expect(snaps[i]! - snaps[i - 1]!).toBeGreaterThanOrEqual(flushIntervalMs);
    expect(peak).toBeLessThanOrEqual(50_000 + 21_000); // the cap, and the newest snapshot kept whole
    t.stop();
  });

  it("overflow: drops first what a later full snapshot supersedes, without asking for another", async () => {
    const { t, calls, sent, setToken } = setup([204], { maxQueueBytes: 30_000 });
    setToken(null); // nothing leaves meanwhile (as while a new session starts)
    t.start();
    for (let i = 0; i < 12; i++) t.addEvent(ev(i, 1000)); // a 12 KB chunk of incremental events
    t.flush();
    t.addEvent(JSON.stringify({ type: 4, timestamp: 2000, data: {} }), 4);
    t.addEvent(JSON.stringify({ type: 2, timestamp: 2001, data: { pad: "s".repeat(12_000) } }), 2);
    t.flush();
    for (let i = 0; i < 12; i++) t.addEvent(ev(3000 + i, 1000)); // 12 KB more: over the cap
    t.flush();
    await settle();
    expect(t.stats.dropped).toBe(12); // the chunk before the snapshot, and only it
    expect(t.pendingBytes).toBeLessThanOrEqual(30_000);
    expect(calls.overflow).toBe(0);
    expect(calls.gaps).toEqual([]);
    setToken("tok");
    t.flush();
    await until(() => t.pendingBytes === 0);
    expect((sent[0]!.body.events[0] as { type: number }).type).toBe(4); // the replay resumes from the snapshot
    expect(sent.flatMap((s) => s.body.events)).toHaveLength(14);
    t.stop();
  });

  it("a full snapshot too large to send is dropped once, its gap marked, with no new snapshot and no seq used", async () => {
    const { t, sent, calls } = setup([204], { maxRequestBytes: 2000 });
    t.start();
    const noise = Array.from({ length: 300 }, () => Math.random().toString(36).slice(2)).join("");
    t.addEvent(JSON.stringify({ type: 4, timestamp: 1, data: { href: "https://shop.test/" } }), 4);
    t.addEvent(JSON.stringify({ type: 2, timestamp: 1, data: { text: noise } }), 2);
    t.flush();
    await until(() => sent.length === 1 && calls.gaps.length === 1);
    await vi.advanceTimersByTimeAsync(120_000);
    await settle();
    expect(calls.gaps).toEqual(["snapshot too large"]);
    expect(calls.overflow).toBe(0);
    t.addEvent(ev(1));
    t.flush();
    await until(() => sent.length === 2);
    expect(sent.map((s) => s.body.seq)).toEqual([0, 1]); // the dropped snapshot used none
    t.stop();
  });

  it("an incremental event too large to send is dropped and asks for one snapshot", async () => {
    const { t, calls } = setup([204], { maxRequestBytes: 2000 });
    t.start();
    const noise = Array.from({ length: 300 }, () => Math.random().toString(36).slice(2)).join("");
    t.addEvent(JSON.stringify({ type: 3, timestamp: 1, data: { source: 0, text: noise } }), 3);
    t.flush();
    await until(() => calls.overflow === 1);
    expect(calls.gaps).toEqual(["event too large"]);
    expect(t.stats.dropped).toBe(1);
    t.stop();
  });

  it("honours Retry-After on 503 and retries at once when the browser is back online", async () => {
    const unavailable = () => new Response(null, { status: 503, headers: { "Retry-After": "20" } });
    const { t, sent } = setup([unavailable, 503, 204]);
    t.start();
    t.addEvent(ev(1));
    t.flush();
    await settle();
    await vi.advanceTimersByTimeAsync(15_000);
    await settle();
    expect(sent).toHaveLength(1); // not before its 20 s
    await vi.advanceTimersByTimeAsync(5_500);
    await settle();
    expect(sent).toHaveLength(2); // a 503 without Retry-After: backoff
    t.retryNow(); // `online`
    await settle();
    expect(sent).toHaveLength(3);
    expect(t.pendingBytes).toBe(0);
    t.stop();
  });

  it("on pagehide what does not fit the unload budget stays queued, and is sent once later", async () => {
    const { t, sent, beacons } = setup([204]);
    t.start();
    for (let i = 0; i < 100; i++) t.addEvent(ev(i, 1000));
    t.flushSync(); // a page going into the back/forward cache, restored later
    const beaconed = await Promise.all(beacons.map(async (b) => JSON.parse(await b.body.text()) as Sent["body"]));
    expect(t.pendingBytes).toBeGreaterThan(0);
    t.flush();
    await until(() => t.pendingBytes === 0);
    const stamps = [...beaconed, ...sent.map((s) => s.body)].flatMap((b) => b.events.map((e) => (e as { timestamp: number }).timestamp));
    expect(stamps.sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => 1000 + i));
    const seqs = [...beaconed, ...sent.map((s) => s.body)].map((b) => b.seq);
    expect(new Set(seqs).size).toBe(seqs.length);
  });
});
