import { describe, expect, it, vi } from "vitest";
import { compileOrigins, originOf } from "../src/origins";

describe("origin matching", () => {
  it("normalises origins (case, default ports, paths)", () => {
    expect(originOf("HTTPS://API.Example.com:443/x?y")).toBe("https://api.example.com");
    expect(originOf("http://a.test:8080/")).toBe("http://a.test:8080");
    expect(originOf("data:text/plain,hi")).toBeNull();
    expect(originOf("not a url")).toBeNull();
  });

  it("matches exact strings, wildcards and RegExps, nothing else", () => {
    const invalid = vi.fn();
    const test = compileOrigins(
      ["https://api.example.com/", "https://*.corp.test", "http://*.local.test:*", /^https:\/\/svc-\d+\.example\.org$/g],
      invalid,
    );
    expect(invalid).not.toHaveBeenCalled();
    expect(test("https://api.example.com")).toBe(true);
    expect(test("http://api.example.com")).toBe(false);
    expect(test("https://api.example.com.evil.test")).toBe(false);
    expect(test("https://a.corp.test")).toBe(true);
    expect(test("https://a.b.corp.test")).toBe(true);
    expect(test("https://corp.test")).toBe(false); // a wildcard never matches the apex
    expect(test("https://evilcorp.test")).toBe(false);
    expect(test("https://a.corp.test:8443")).toBe(false);
    expect(test("http://x.local.test:3000")).toBe(true);
    expect(test("http://x.local.test")).toBe(true);
    // a global RegExp is tested without lastIndex state
    expect(test("https://svc-1.example.org")).toBe(true);
    expect(test("https://svc-1.example.org")).toBe(true);
    expect(test("https://svc-x.example.org")).toBe(false);
  });

  it("reports entries that are not origins and ignores them", () => {
    const invalid = vi.fn();
    const test = compileOrigins(["api.example.com", "https://example.com/path", "*", "https://a*.x.test"], invalid);
    expect(invalid).toHaveBeenCalledTimes(4);
    expect(test("https://api.example.com")).toBe(false);
    expect(test("https://example.com")).toBe(false);
  });
});
