/// <reference types="vite/client" />
import { describe, expect, it } from "vitest";

import readme from "../../README.md?raw";
import makefile from "../../Makefile?raw";
import sdkReadme from "../../sdk/python/README.md?raw";
import trackerPackage from "../../tracker/package.json";
import { npmLines, PYTHON_LINES, trackerSnippet } from "./snippet";

// The snippet shown in Preferences > Project must be the README's (the one the tracker's e2e tests run).
function readmeSnippet(): string {
  const match = /### The snippet[\s\S]*?```html\n([\s\S]*?)```/.exec(readme);
  if (!match?.[1]) throw new Error("README.md has no snippet block");
  return match[1].trimEnd();
}

const withoutOrigins = (text: string) => text.replace(/network: \{ tokenOrigins: \[.*\] \}.*$/m, "network");

// The SDK's modules, from its source files (replaylink_sdk/logging.py -> "logging").
const sdkModules = Object.keys(import.meta.glob("../../sdk/python/src/replaylink_sdk/*.py")).map((path) =>
  path.replace(/^.*\/(\w+)\.py$/, "$1"),
);

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

// Neither package is published: the install lines must work from a checkout of this repository.
describe("npm lines", () => {
  const lines = npmLines("https://rl.test", 'a"b');

  it("build the tracker in the checkout and install it from its directory", () => {
    expect(makefile).toMatch(/^tracker: /m);
    expect(lines).toMatch(/^make tracker /m);
    expect(lines).toMatch(/^npm install \S+\/tracker /m);
    expect(lines).not.toMatch(/npm (i|install) @/);
  });

  it("import the tracker under its package's name", () => {
    expect(lines).toContain(`import Tracker from "${trackerPackage.name}";`);
  });

  it("fill in this server and the project key, escaped", () => {
    expect(lines).toContain('projectKey: "a\\"b"');
    expect(lines).toContain('ingestPoint: "https://rl.test"');
  });
});

describe("Python SDK lines", () => {
  it("install the SDK from the checkout, as its README does", () => {
    expect(PYTHON_LINES).toMatch(/^pip install \.\/sdk\/python /);
    expect(sdkReadme).toContain("\npip install ./sdk/python\n");
    expect(PYTHON_LINES).not.toMatch(/pip install replaylink/);
  });

  it("use only modules the SDK has", () => {
    expect(sdkModules).toContain("logging");
    const used = [...PYTHON_LINES.matchAll(/replaylink_sdk\.(\w+)\./g)].map((match) => match[1]);
    expect(used.length).toBeGreaterThan(0);
    for (const module of used) expect(sdkModules).toContain(module);
  });
});
