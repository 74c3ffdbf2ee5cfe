import { randomBytes } from "node:crypto";
import { gunzipSync } from "node:zlib";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { DROP_TAG, Recorder } from "../src/recorder";
import { Tracker } from "../src/tracker";
import { install, scriptBase } from "../src/snippet";
import { beacons } from "./setup";

/** A stand-in for the ReplayLink server at https://rl.test (the real one is used in tests/browser). */
const server = {
  starts: [] as Array<Record<string, unknown>>,
  batches: [] as Array<{ auth: string | null; body: { seq: number; tab: string; events: Array<{ type: number; data: unknown }>; devtools: Array<Record<string, unknown>> } }>,
  batchStatus: [] as number[],
  /** answers of the next session starts: "down" (network error) or an HTTP status, with Retry-After seconds */
  startFail: [] as Array<"down" | number | [number, string]>,
  attempts: 0,
  maxCompressed: 1048576,
  next: 1,
  reset() {
    this.starts = [];
    this.batches = [];
    this.batchStatus = [];
    this.startFail = [];
    this.attempts = 0;
    this.maxCompressed = 1048576;
    this.next = 1;
  },
};

async function fakeFetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
  const url = String(input instanceof Request ? input.url : input);
  if (url === "https://rl.test/ingest/v1/sessions") {
    server.attempts++;
    const fail = server.startFail.shift();
    if (fail === "down") throw new TypeError("Failed to fetch");
    if (fail !== undefined) {
      const [status, after] = typeof fail === "number" ? [fail, null] : fail;
      const headers: Record<string, string> = after ? { "Retry-After": after } : {};
      return Response.json({ error: { code: "x", message: "unavailable" } }, { status, headers });
    }
    const body = JSON.parse(String(init?.body)) as Record<string, unknown>;
    server.starts.push(body);
    const continued = typeof body.token === "string" && body.token.startsWith("tok-");
    const id = continued ? String(body.token).slice(4) : String(server.next++);
    return Response.json({
      sessionId: id,
      token: `tok-${id}`,
      expiresAt: new Date(Date.now() + 7200_000).toISOString(),
      projectId: 7,
      serverTime: Date.now(),
      batch: { url: "/ingest/v1/batches", flushIntervalMs: 5000, maxRawBytes: 262144, maxCompressedBytes: server.maxCompressed },
    });
  }
  if (url.startsWith("https://rl.test/ingest/v1/batches")) {
    let bytes = new Uint8Array(init?.body as Uint8Array);
    if (new Headers(init?.headers).get("content-encoding") === "gzip") bytes = new Uint8Array(gunzipSync(bytes));
    server.batches.push({ auth: new Headers(init?.headers).get("authorization"), body: JSON.parse(new TextDecoder().decode(bytes)) });
    const status = server.batchStatus.shift() ?? 204;
    return new Response(status === 204 ? null : "{}", { status });
  }
  return new Response("app", { status: 200 });
}

const appFetch = vi.fn(fakeFetch);
window.fetch = appFetch as typeof fetch;

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 400 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(cond()).toBe(true);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const flush = (t: Tracker) => (t as unknown as { transport: { flush(): void } | null }).transport?.flush();
const pageEvent = (type: string, persisted: boolean) => window.dispatchEvent(Object.assign(new Event(type), { persisted }));
/** (tab, seq) of every batch the server and the beacons got */
async function slots(): Promise<string[]> {
  const fromBeacons = await Promise.all(beacons.map(async (b) => JSON.parse(await (b.body as Blob).text()) as { tab: string; seq: number }));
  return [...server.batches.map((b) => b.body), ...fromBeacons].map((b) => `${b.tab}/${b.seq}`);
}
function markers(): string[] {
  return server.batches
    .flatMap((b) => b.body.events)
    .filter((e) => e.type === 5 && (e.data as { tag?: string }).tag === DROP_TAG)
    .map((e) => (e.data as { payload: { dropped: string } }).payload.dropped);
}

const trackers: Tracker[] = [];
function make(opts: Record<string, unknown> = {}): Tracker {
  const t = new Tracker({ projectKey: "pk-1", ingestPoint: "https://rl.test/", ...opts });
  trackers.push(t);
  return t;
}

describe("Tracker", () => {
  beforeEach(() => {
    server.reset();
    sessionStorage.clear();
    beacons.length = 0;
    document.body.innerHTML = "";
  });
  afterEach(() => {
    trackers.splice(0).forEach((t) => t.stop());
  });

  it("hands out the token only once started, with OpenReplay's answers", async () => {
    const t = make();
    expect(t.getSessionToken()).toBeNull();
    expect(t.isActive()).toBe(false);
    const started = await t.start({ userID: "alice", metadata: { plan: "pro" } });
    expect(started).toEqual({ success: true, sessionID: "1", sessionToken: "tok-1" });
    expect(t.getSessionToken()).toBe("tok-1");
    expect(t.getSessionID()).toBe("1");
    expect(t.getSessionURL()).toBe("https://rl.test/projects/7/sessions/1");
    expect(server.starts[0]).toMatchObject({ projectKey: "pk-1", userId: "alice", metadata: { plan: "pro" } });
    expect(await t.start()).toEqual(started); // a second start answers the same session
    t.stop();
    expect(t.getSessionToken()).toBeNull();
  });

  it("never rejects: an unreachable or refusing server gives success false with a reason", async () => {
    const t = make({ ingestPoint: "https://down.test" });
    appFetch.mockImplementationOnce(async () => {
      throw new TypeError("Failed to fetch");
    });
    const res = await t.start();
    expect(res.success).toBe(false);
    expect(res).toHaveProperty("reason");
    expect(t.getSessionToken()).toBeNull();
    appFetch.mockImplementationOnce(async () => Response.json({ error: { code: "unknown_project", message: "No project has this key" } }, { status: 404 }));
    const refused = await t.start();
    expect(refused).toEqual({ success: false, reason: "ReplayLink refused the session (404): No project has this key" });
  });

  it("continues the session after a reload in the same tab, scoped to the project key", async () => {
    const first = make();
    await first.start();
    first.stop();
    const again = make();
    await again.start();
    expect(server.starts[1]!.token).toBe("tok-1");
    expect(again.getSessionToken()).toBe("tok-1");
    again.stop();
    const other = make({ projectKey: "pk-2" });
    await other.start();
    expect(server.starts[2]!.token).toBeUndefined();
    expect(other.getSessionToken()).toBe("tok-2");
  });

  it("starts a new session after 30 minutes without activity", async () => {
    const first = make();
    await first.start();
    first.stop();
    const stored = JSON.parse(sessionStorage.getItem("__replaylink_session:pk-1")!);
    stored.lastActivity -= 31 * 60_000;
    sessionStorage.setItem("__replaylink_session:pk-1", JSON.stringify(stored));
    const later = make();
    await later.start();
    expect(server.starts[1]!.token).toBeUndefined();
    expect(later.getSessionID()).not.toBe(first.getSessionID() ?? "1");
  });

  it("records DOM events and devtools apart, masks inputs and emails, redacts URLs", async () => {
    document.body.innerHTML =
      '<p id="who">contact jane.doe@example.com</p><input id="pw" type="password" value="hunter2">' +
      '<input id="mail" value="bob@example.org"><div class="rr-mask">secret text</div><div data-openreplay-hidden>hidden stuff</div>';
    const t = make();
    await t.start();
    t.event("checkout", { total: 3 });
    t.handleError(new RangeError("bad total"), { step: "pay" });
    await window.fetch("https://api.other.test/x?access_token=abc&page=2");
    (t as unknown as { transport: { flush(): void } }).transport.flush();
    await until(() => server.batches.length > 0);
    const batch = server.batches[0]!;
    expect(batch.auth).toBe("Bearer tok-1");
    const dom = JSON.stringify(batch.body.events);
    expect(batch.body.events.some((e) => e.type === 2)).toBe(true); // a full snapshot
    expect(dom).not.toContain("jane.doe");
    expect(dom).not.toContain("hunter2");
    expect(dom).not.toContain("bob@example.org");
    expect(dom).not.toContain("secret text");
    expect(dom).not.toContain("hidden stuff");
    const kinds = batch.body.devtools.map((d) => d.type);
    expect(kinds).toEqual(expect.arrayContaining(["page", "custom", "error", "network"]));
    const net = batch.body.devtools.find((d) => d.type === "network")!;
    expect(net.url).toBe("https://api.other.test/x?access_token=[redacted]&page=2");
    const err = batch.body.devtools.find((d) => d.type === "error")!;
    expect(err).toMatchObject({ name: "RangeError", message: "bad total", source: "handled", metadata: { step: "pay" } });
  });

  it("obscures emails in page text and masks marked elements fully", async () => {
    const { Recorder } = await import("../src/recorder");
    const r = new Recorder(window, { emit: () => undefined, maskAllInputs: true, obscureTextEmails: true, obscureTextNumbers: false, checkoutEveryMs: 1000, mutationLimit: 10 });
    document.body.innerHTML = '<p id="a">mail jane@example.com</p><div data-openreplay-masked><b id="b">Jane Doe</b></div>';
    expect(r.maskText("mail jane@example.com", document.getElementById("a"))).toBe("mail ****@*******.com");
    expect(r.maskText("Jane Doe", document.getElementById("b"))).toBe("**** ***");
  });

  it("pauses on a mutation storm, marks it, and resumes with a full snapshot", async () => {
    const { Recorder, STORM_TAG } = await import("../src/recorder");
    const events: Array<{ type: number; data: unknown }> = [];
    const r = new Recorder(window, { emit: (e) => events.push(e), maskAllInputs: true, obscureTextEmails: true, obscureTextNumbers: false, checkoutEveryMs: 600_000, mutationLimit: 100 });
    r.start();
    await until(() => events.some((e) => e.type === 2));
    const fulls = () => events.filter((e) => e.type === 2).length;
    const frag = document.createDocumentFragment();
    for (let i = 0; i < 300; i++) frag.appendChild(document.createElement("i"));
    for (let i = 0; i < 300; i++) document.body.appendChild(document.createElement("u"));
    await until(() => events.some((e) => e.type === 5));
    const mark = events.find((e) => e.type === 5)!;
    expect((mark.data as { tag: string }).tag).toBe(STORM_TAG);
    expect(r.recording).toBe(false);
    await until(() => fulls() === 2);
    expect(r.recording).toBe(true);
    r.stop();
  });

  it("a 401 from ingest starts a new session and resumes with a full snapshot", async () => {
    const t = make();
    await t.start();
    server.batchStatus = [401];
    (t as unknown as { transport: { flush(): void } }).transport.flush();
    await until(() => server.batches.length >= 1);
    await until(() => t.getSessionID() === "2");
    document.body.appendChild(document.createElement("span"));
    (t as unknown as { transport: { flush(): void } }).transport.flush();
    await until(() => server.batches.some((b) => b.auth === "Bearer tok-2"));
    const renewed = server.batches.find((b) => b.auth === "Bearer tok-2")!;
    expect(renewed.body.seq).toBe(0);
    expect(renewed.body.events.some((e) => e.type === 2)).toBe(true);
    expect(server.starts[1]!.token).toBeUndefined();
  });

  it("puts the token on same-origin requests and listed origins only", async () => {
    const t = make({ network: { tokenOrigins: ["https://*.shop.test"] } });
    await t.start();
    appFetch.mockClear();
    await window.fetch("/local");
    await window.fetch("https://api.shop.test/x");
    await window.fetch("https://ads.other.test/x");
    const sent = appFetch.mock.calls.map(([, init]) => new Headers(init?.headers).get("x-openreplay-sessiontoken"));
    expect(sent).toEqual(["tok-1", "tok-1", null]);
  });

  it("records console errors, uncaught errors, rejections and SPA navigations as devtools events", async () => {
    const t = make();
    await t.start();
    console.error("boom", { code: 7 });
    console.warn("careful");
    window.dispatchEvent(new ErrorEvent("error", { message: "x is undefined", error: new TypeError("x is undefined") }));
    const rejection = new Event("unhandledrejection") as Event & { reason: unknown };
    rejection.reason = new Error("nope");
    window.dispatchEvent(rejection);
    history.pushState({}, "", "/step-2?session=abc");
    (t as unknown as { transport: { flush(): void } }).transport.flush();
    await until(() => server.batches.length > 0);
    const devtools = server.batches.flatMap((b) => b.body.devtools);
    expect(devtools).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ type: "console", level: "error", message: 'boom {"code":7}' }),
        expect.objectContaining({ type: "console", level: "warn", message: "careful" }),
        expect.objectContaining({ type: "error", name: "TypeError", source: "uncaught" }),
        expect.objectContaining({ type: "error", message: "nope", source: "unhandledrejection" }),
        expect.objectContaining({ type: "page", url: expect.stringContaining("/step-2?session=[redacted]") }),
      ]),
    );
  });

  it("starts a new session when the token is about to expire", async () => {
    const t = make();
    await t.start();
    const state = (t as unknown as { state: { expiresAt: number } }).state;
    state.expiresAt = Date.now();
    t.event("late"); // the next recorded event notices
    await until(() => t.getSessionID() === "2");
    expect(server.starts[1]!.token).toBeUndefined();
  });

  it("setUserID and setMetadata after start update the same session (one debounced call)", async () => {
    const t = make();
    await t.start();
    t.setUserID("carol");
    t.setMetadata("plan", "team");
    await until(() => server.starts.length === 2);
    expect(server.starts[1]).toMatchObject({ token: "tok-1", userId: "carol", metadata: { plan: "team" } });
    expect(t.getSessionID()).toBe("1");
  });

  it("a tab opened by window.open (a copy of the opener's sessionStorage) records as its own tab from seq 0", async () => {
    const opener = make();
    await opener.start();
    flush(opener);
    await until(() => server.batches.length === 1);
    const openerTab = server.batches[0]!.body.tab;
    // the new tab's sessionStorage: a copy taken while the opener records (the opener goes on elsewhere)
    const copy = Object.keys(sessionStorage).map((k) => [k, sessionStorage.getItem(k)!] as const);
    opener.stop();
    sessionStorage.clear();
    for (const [k, v] of copy) sessionStorage.setItem(k, v);
    const popup = make();
    await popup.start();
    expect(popup.getSessionID()).toBe("1"); // the same session
    flush(popup);
    await until(() => server.batches.length === 2);
    const popupBatch = server.batches[1]!.body;
    expect(popupBatch.tab).not.toBe(openerTab);
    expect(popupBatch.seq).toBe(0);
    // the popup reloads: same tab, its seq goes on
    window.dispatchEvent(new Event("pagehide"));
    popup.stop();
    const stored = JSON.parse(sessionStorage.getItem("__replaylink_session:pk-1")!) as { seq: number; live: boolean };
    expect(stored.live).toBe(false);
    const reloaded = make();
    await reloaded.start();
    flush(reloaded);
    await until(() => server.batches.length === 3);
    expect(server.batches[2]!.body.tab).toBe(popupBatch.tab);
    expect(server.batches[2]!.body.seq).toBe(stored.seq);
    expect(stored.seq).toBeGreaterThan(0);
    expect(new Set(await slots()).size).toBe((await slots()).length);
  });

  it("a page back from the back/forward cache goes on past the seq the pages shown meanwhile used", async () => {
    const first = make();
    await first.start();
    flush(first);
    await until(() => server.batches.length === 1);
    pageEvent("pagehide", true); // into the back/forward cache
    const second = make(); // the next page of the tab
    await second.start();
    flush(second);
    await until(() => server.batches.length === 2);
    expect(server.batches[1]!.body.tab).toBe(server.batches[0]!.body.tab);
    second.stop(); // it leaves; the first page is shown again
    pageEvent("pageshow", true);
    first.event("back"); // (rrweb records one page per window: the test's second page took it over)
    flush(first);
    await until(() => server.batches.length === 3);
    expect(server.batches[2]!.body.tab).toBe(server.batches[0]!.body.tab);
    const all = await slots();
    expect(new Set(all).size).toBe(all.length);
  });

  it("keeps trying to start while the server cannot be reached: start() answers at once, the tracker records later", async () => {
    server.startFail = ["down"];
    const t = make();
    const res = await t.start();
    expect(res).toMatchObject({ success: false, reason: expect.stringContaining("retrying") });
    expect(t.isActive()).toBe(false);
    await until(() => t.isActive()); // backoff: 0.5 to 1 s
    expect(t.getSessionToken()).toBe("tok-1");
    appFetch.mockClear();
    await window.fetch("/api"); // the app's requests carry the token now
    expect(new Headers(appFetch.mock.calls[0]![1]?.headers).get("x-openreplay-sessiontoken")).toBe("tok-1");
    flush(t);
    await until(() => server.batches.some((b) => b.body.events.some((e) => e.type === 2)));
  });

  it("retries a start at once when the browser comes back online, and after Retry-After on 503", async () => {
    server.startFail = ["down"];
    const random = vi.spyOn(Math, "random").mockReturnValue(0.99); // backoff: ~1 s
    const t = make();
    await t.start();
    random.mockRestore();
    const before = Date.now();
    window.dispatchEvent(new Event("online"));
    await until(() => t.isActive());
    expect(Date.now() - before).toBeLessThan(800);
    t.stop();
    sessionStorage.clear();
    server.startFail = [[503, "2"]];
    const u = make();
    await u.start();
    await sleep(1200);
    expect(server.attempts).toBe(3); // not yet: it waits the 2 s asked for
    await until(() => u.isActive());
  });

  it("does not retry a start the server refused, nor after stop()", async () => {
    server.startFail = [404];
    const t = make();
    expect((await t.start()).success).toBe(false);
    server.startFail = ["down"];
    const u = make({ projectKey: "pk-2" });
    await u.start();
    u.stop();
    await sleep(1100);
    expect(server.attempts).toBe(2);
    expect(t.isActive() || u.isActive()).toBe(false);
  });

  it("a new session that cannot start at once (server down) is retried, not given up", async () => {
    const t = make();
    await t.start();
    server.batchStatus = [401];
    server.startFail = ["down"];
    flush(t);
    await until(() => t.getSessionID() === "2");
    expect(t.isActive()).toBe(true);
  });

  it("an event too large to upload is dropped and marked; the snapshot it asks for, as large, is not tried again", async () => {
    server.maxCompressed = 8000;
    const text = randomBytes(30_000).toString("base64"); // incompressible
    // what rrweb emits in Chromium for a page holding `text` (happy-dom's snapshot leaves text out, its mutation
    // observer does not run)
    const snapshots = vi.spyOn(Recorder.prototype, "fullSnapshot").mockImplementation(function (this: Recorder) {
      const emit = (this as unknown as { opts: { emit(e: unknown): void } }).opts.emit;
      emit({ type: 4, timestamp: Date.now(), data: { href: location.href, width: 800, height: 600 } });
      emit({ type: 2, timestamp: Date.now(), data: { node: { type: 0, childNodes: [{ type: 3, textContent: text }] } } });
    });
    try {
      const t = make();
      await t.start();
      flush(t);
      await until(() => server.batches.length === 1);
      const added = { type: 3, timestamp: Date.now(), data: { source: 0, adds: [{ parentId: 1, node: { type: 3, textContent: text } }] } };
      (t as unknown as { onRrweb(e: unknown): void }).onRrweb(added); // the page shows the text
      await until(() => {
        flush(t);
        return markers().length === 2;
      });
      await sleep(300);
      flush(t);
      await sleep(100);
      expect(markers()).toEqual(["event too large", "snapshot too large"]);
      expect(snapshots).toHaveBeenCalledTimes(1);
      const seqs = server.batches.map((b) => b.body.seq);
      expect(seqs).toEqual(seqs.map((_, i) => i)); // no seq used by a batch never sent
    } finally {
      snapshots.mockRestore();
    }
  });

  it("rejects options without a project key or ingest point", () => {
    expect(() => new Tracker({ projectKey: "", ingestPoint: "https://rl.test" })).toThrow(/project key/);
    expect(() => new Tracker({ projectKey: "k", ingestPoint: "rl.test" })).toThrow(/ingestPoint/);
  });
});

describe("snippet", () => {
  beforeEach(() => {
    server.reset();
    sessionStorage.clear();
  });

  it("derives the ingest point from the script URL", () => {
    expect(scriptBase("https://rl.test/static/tracker.js")).toBe("https://rl.test");
    expect(scriptBase("https://proxy.test/replaylink/static/tracker.js?v=2")).toBe("https://proxy.test/replaylink");
    expect(scriptBase("https://cdn.test/other.js")).toBe("https://cdn.test");
    expect(scriptBase(null)).toBeNull();
  });

  it("replays queued calls in order and settles their promises; the facade answers afterwards", async () => {
    const q: Array<[string, unknown[], (v: unknown) => void]> = [];
    const stubbed = new Promise((resolve) => q.push(["start", [{ userID: "u1" }], resolve]));
    q.push(["setMetadata", ["plan", "pro"], () => undefined]);
    q.push(["event", ["queued", { a: 1 }], () => undefined]);
    const w = window as unknown as { OpenReplay: Record<string, unknown> };
    w.OpenReplay = { _q: q, _cfg: { projectKey: "pk-snip" } };
    install(window, "https://rl.test/static/tracker.js");
    const result = await stubbed;
    expect(result).toMatchObject({ success: true });
    const api = w.OpenReplay as unknown as { getSessionToken(): string | null; stop(): void };
    expect(api.getSessionToken()).toBe((result as { sessionToken: string }).sessionToken);
    expect(server.starts[0]).toMatchObject({ projectKey: "pk-snip", userId: "u1" });
    api.stop();
  });
});
