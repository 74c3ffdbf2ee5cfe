import { describe, expect, it, vi } from "vitest";
import type { TokenHeaders } from "../src/headers";
import { type NetworkHooks, type NetworkRecord, installNetwork, originalFetch } from "../src/network";

const PAGE = "https://shop.test/cart";
const ALLOWED = new Set(["https://shop.test", "https://api.shop.test"]);

function hooks(records: NetworkRecord[], add: Partial<TokenHeaders> = {}): NetworkHooks {
  return {
    tokenFor: (url) =>
      ALLOWED.has(url.origin) && !url.pathname.startsWith("/ingest/")
        ? { name: "X-OpenReplay-SessionToken", token: "tok-1", baggage: false, ...add }
        : null,
    record: (r) => records.push(r),
    isIngest: (url) => url.pathname.startsWith("/ingest/"),
  };
}

class FakeXhr extends EventTarget {
  static sent: FakeXhr[] = [];
  headers: Array<[string, string]> = [];
  method = "";
  url = "";
  status = 0;
  open(method: string, url: string): void {
    this.method = method;
    this.url = url;
  }
  setRequestHeader(name: string, value: string): void {
    this.headers.push([name, value]);
  }
  send(): void {
    FakeXhr.sent.push(this);
  }
  getResponseHeader(name: string): string | null {
    return name === "content-length" ? "42" : null;
  }
  finish(status: number): void {
    this.status = status;
    this.dispatchEvent(new Event(status ? "load" : "error"));
    this.dispatchEvent(new Event("loadend"));
  }
}

function fakeWindow() {
  const calls: Array<[RequestInfo | URL, RequestInit | undefined]> = [];
  const fetchImpl = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    calls.push([input, init]);
    if (String(input instanceof Request ? input.url : input).includes("/down")) throw new TypeError("Failed to fetch");
    return new Response("{}", { status: 201, headers: { "content-length": "2" } });
  });
  class Xhr extends FakeXhr {}
  const win = { fetch: fetchImpl, XMLHttpRequest: Xhr, document: { baseURI: PAGE } } as unknown as Window;
  return { win, calls, fetchImpl, Xhr };
}

function sentHeaders(init: RequestInit | undefined): Headers {
  return new Headers(init?.headers);
}

describe("fetch hook", () => {
  it("adds the header for the page origin and allowed origins: string, URL and Request inputs", async () => {
    const { win, calls } = fakeWindow();
    const records: NetworkRecord[] = [];
    installNetwork(win, () => hooks(records));
    await win.fetch("/api/items", { headers: { Accept: "application/json" } });
    await win.fetch(new URL("https://api.shop.test/v1"));
    await win.fetch(new Request("https://api.shop.test/v2", { method: "PUT", headers: { "X-App": "1" }, body: "abc" }));
    expect(sentHeaders(calls[0]![1]).get("x-openreplay-sessiontoken")).toBe("tok-1");
    expect(sentHeaders(calls[0]![1]).get("accept")).toBe("application/json");
    expect(sentHeaders(calls[1]![1]).get("x-openreplay-sessiontoken")).toBe("tok-1");
    // a Request keeps its own headers, method and body
    const [req, init] = calls[2]!;
    expect(req).toBeInstanceOf(Request);
    expect(sentHeaders(init).get("x-app")).toBe("1");
    expect(sentHeaders(init).get("x-openreplay-sessiontoken")).toBe("tok-1");
    expect(await new Request(req as Request, init).text()).toBe("abc");
    expect(records.map((r) => [r.method, r.status])).toEqual([
      ["GET", 201],
      ["GET", 201],
      ["PUT", 201],
    ]);
  });

  it("passes other origins, the ingest point and no-cors requests through untouched", async () => {
    const { win, calls } = fakeWindow();
    const records: NetworkRecord[] = [];
    installNetwork(win, () => hooks(records));
    const init = { headers: { A: "b" } };
    await win.fetch("https://maps.other.test/tile", init);
    await win.fetch("https://shop.test/ingest/v1/batches", init);
    await win.fetch("https://shop.test/x", { mode: "no-cors" });
    expect(calls[0]![1]).toBe(init); // the very same object: nothing added, nothing copied
    expect(calls[1]![1]).toBe(init);
    expect(sentHeaders(calls[2]![1]).has("x-openreplay-sessiontoken")).toBe(false);
    // the ingest call is not recorded as page traffic
    expect(records.map((r) => r.url)).toEqual(["https://maps.other.test/tile", "https://shop.test/x"]);
  });

  it("keeps a header the app set, merges baggage, and does nothing without an active session", async () => {
    const { win, calls } = fakeWindow();
    let active: NetworkHooks | null = hooks([], { baggage: true });
    installNetwork(win, () => active);
    await win.fetch("/a", { headers: { "X-OpenReplay-SessionToken": "own", baggage: "k=v" } });
    expect(sentHeaders(calls[0]![1]).get("x-openreplay-sessiontoken")).toBe("own");
    expect(sentHeaders(calls[0]![1]).get("baggage")).toBe("k=v,openReplaySessionToken=tok-1");
    active = null;
    const init = { headers: { A: "b" } };
    await win.fetch("/b", init);
    expect(calls[1]![1]).toBe(init);
  });

  it("records failures with status 0 and rethrows the same error; responses stay the app's", async () => {
    const { win } = fakeWindow();
    const records: NetworkRecord[] = [];
    installNetwork(win, () => hooks(records));
    await expect(win.fetch("https://shop.test/down")).rejects.toThrow("Failed to fetch");
    const res = await win.fetch("/ok");
    expect(res.status).toBe(201);
    expect(await res.json()).toEqual({});
    expect(records[0]).toMatchObject({ status: 0, error: "TypeError: Failed to fetch" });
    expect(records[1]).toMatchObject({ status: 201, responseSize: 2 });
  });

  it("installs once per window, and the tracker keeps the original fetch", async () => {
    const { win, fetchImpl } = fakeWindow();
    installNetwork(win, () => null);
    const hooked = win.fetch;
    installNetwork(win, () => null);
    expect(win.fetch).toBe(hooked);
    await originalFetch(win)("https://x.test/");
    expect(fetchImpl).toHaveBeenCalledTimes(1);
  });
});

describe("XMLHttpRequest hook", () => {
  it("adds the header on send for allowed origins only, without doubling the app's", () => {
    const { win, Xhr } = fakeWindow();
    const records: NetworkRecord[] = [];
    installNetwork(win, () => hooks(records, { baggage: true }));
    const a = new Xhr();
    a.open("post", "/api/save");
    a.setRequestHeader("baggage", "k=v");
    a.send();
    expect(a.headers).toEqual([
      ["baggage", "k=v"],
      ["X-OpenReplay-SessionToken", "tok-1"],
      ["baggage", "openReplaySessionToken=tok-1"],
    ]);
    const b = new Xhr();
    b.open("GET", "https://cdn.other.test/x.json");
    b.send();
    expect(b.headers).toEqual([]);
    const c = new Xhr();
    c.open("GET", "https://api.shop.test/me");
    c.setRequestHeader("X-OpenReplay-SessionToken", "own");
    c.send();
    expect(c.headers).toEqual([
      ["X-OpenReplay-SessionToken", "own"],
      ["baggage", "openReplaySessionToken=tok-1"],
    ]);
    a.finish(500);
    b.finish(0);
    expect(records).toMatchObject([
      { method: "POST", url: "https://shop.test/api/save", status: 500, responseSize: 42 },
      { method: "GET", url: "https://cdn.other.test/x.json", status: 0, error: "network error" },
    ]);
  });
});
