import { describe, expect, it } from "vitest";
import { mergeBaggage, withToken } from "../src/headers";

describe("header merging", () => {
  it("adds the token header unless the app set one", () => {
    const h = withToken({ Accept: "application/json" }, { name: "X-OpenReplay-SessionToken", token: "t1", baggage: false });
    expect(h.get("x-openreplay-sessiontoken")).toBe("t1");
    expect(h.get("accept")).toBe("application/json");
    const own = withToken([["X-OpenReplay-SessionToken", "mine"]], { name: "X-OpenReplay-SessionToken", token: "t1", baggage: false });
    expect(own.get("X-OpenReplay-SessionToken")).toBe("mine");
  });

  it("merges a baggage member into an existing header, never replacing it", () => {
    expect(mergeBaggage(null, "a b")).toBe("openReplaySessionToken=a%20b");
    expect(mergeBaggage("userId=alice,sentry-trace_id=abc", "tok")).toBe("userId=alice,sentry-trace_id=abc,openReplaySessionToken=tok");
    expect(mergeBaggage("openReplaySessionToken=old;p=1, k=v", "new")).toBe("openReplaySessionToken=old;p=1, k=v");
    const h = withToken(new Headers({ baggage: "k=v" }), { name: false, token: "tok", baggage: true });
    expect(h.get("baggage")).toBe("k=v,openReplaySessionToken=tok");
    expect(h.has("x-openreplay-sessiontoken")).toBe(false);
  });

  it("honours a custom header name", () => {
    const h = withToken(undefined, { name: "X-Session", token: "t", baggage: false });
    expect(h.get("x-session")).toBe("t");
    expect(h.has("x-openreplay-sessiontoken")).toBe(false);
  });
});
