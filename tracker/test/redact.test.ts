import { describe, expect, it } from "vitest";
import { obscureEmails, redactUrl, truncate } from "../src/redact";

describe("redaction", () => {
  it("redacts sensitive query and fragment values and credentials", () => {
    const out = redactUrl("https://user:pw@api.test/a?page=2&access_token=abc&apiKey=k&q=shoes#id_token=xyz&state=1");
    expect(out).toBe("https://api.test/a?page=2&access_token=[redacted]&apiKey=[redacted]&q=shoes#id_token=[redacted]&state=1");
    expect(out).not.toContain("pw");
  });

  it("obscures emails in URLs and text, keeping the shape", () => {
    expect(redactUrl("https://x.test/users/jane.doe@example.com/orders")).toBe("https://x.test/users/****.***@*******.com/orders");
    expect(redactUrl("https://x.test/?who=jane%40example.com")).not.toContain("jane");
    expect(obscureEmails("write to jane.doe@example.com today")).toBe("write to ****.***@*******.com today");
    expect(obscureEmails("no address here")).toBe("no address here");
  });

  it("resolves relative URLs and bounds long ones", () => {
    expect(redactUrl("/api?x=1", "https://shop.test/p/")).toBe("https://shop.test/api?x=1");
    expect(redactUrl(`https://x.test/${"a".repeat(5000)}`).length).toBeLessThan(2100);
    expect(truncate("abcdef", 3)).toBe("abc…[3 more]");
  });

  it("stays fast on hostile text (no catastrophic backtracking)", () => {
    const hostile = `${"a.".repeat(20000)}@`;
    expect(obscureEmails(hostile).length).toBe(hostile.length);
  });
});
