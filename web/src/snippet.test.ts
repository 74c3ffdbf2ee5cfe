/// <reference types="vite/client" />
import { describe, expect, it } from "vitest";

import readme from "../../README.md?raw";
import { trackerSnippet } from "./snippet";

// The snippet shown in Preferences > Project must be the README's (the one the tracker's e2e tests run).
function readmeSnippet(): string {
  const match = /### The snippet[\s\S]*?```html\n([\s\S]*?)```/.exec(readme);
  if (!match?.[1]) throw new Error("README.md has no snippet block");
  return match[1].trimEnd();
}

const withoutOrigins = (text: string) => text.replace(/network: \{ tokenOrigins: \[.*\] \}.*$/m, "network");

describe("tracker snippet", () => {
  it("is the README's snippet with this server and project filled in", () => {
    const expected = readmeSnippet()
      .replace("https://replaylink.example.com", "https://rl.test")
      .replace("YOUR_PROJECT_KEY", "pk123");
    expect(withoutOrigins(trackerSnippet("https://rl.test", "pk123"))).toBe(withoutOrigins(expected));
  });

  it("escapes what it fills in", () => {
    expect(trackerSnippet("https://rl.test", 'a"b')).toContain('projectKey: "a\\"b"');
  });
});
