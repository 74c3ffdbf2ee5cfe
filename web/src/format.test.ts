import { describe, expect, it } from "vitest";
import { bidiMarker, bidiParts, displayText, hasBidiControls, isolateText, revealBidi, truncate } from "./format";

// Every bidirectional control: ALM, LRM, RLM, LRE, RLE, PDF, LRO, RLO, LRI, RLI, FSI, PDI.
const CONTROLS = ["\u061C", "\u200E", "\u200F", "\u202A", "\u202B", "\u202C", "\u202D", "\u202E", "\u2066", "\u2067", "\u2068", "\u2069"];
const ANY_CONTROL = /[\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/;

describe("untrusted text's bidirectional controls", () => {
  it.each(CONTROLS)("shows U+%s as a visible marker and never keeps it", (control) => {
    const hex = (control.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, "0");
    const shown = revealBidi(`a${control}b${control}`);
    expect(shown).toBe(`a⟨U+${hex}⟩b⟨U+${hex}⟩`);
    expect(shown).not.toMatch(ANY_CONTROL);
    expect(hasBidiControls(`a${control}b`)).toBe(true);
    expect(displayText(`x${control}`)).toBe(`x⟨U+${hex}⟩`);
  });

  it("neutralises the exe.png spoof, and leaves other text (RTL letters included) as it is", () => {
    expect(revealBidi("\u202Egnp.exe\u202C")).toBe("⟨U+202E⟩gnp.exe⟨U+202C⟩");
    expect(revealBidi("invoice.pdf")).toBe("invoice.pdf");
    expect(revealBidi("שלום עולם مرحبا")).toBe("שלום עולם مرحبا");
    expect(hasBidiControls("שלום user-42")).toBe(false);
    expect(bidiMarker("\u061C")).toBe("⟨U+061C⟩");
  });

  it("truncates the original text, so a marker is never cut in half", () => {
    expect(displayText("abcdef\u202E", 5)).toBe("abcd…");
    expect(displayText("ab\u202Ecdef", 5)).toBe("ab⟨U+202E⟩c…");
    expect(displayText("short\u202E", 10)).toBe("short⟨U+202E⟩");
  });

  it("isolates text for plain-text slots (tooltips) between FSI and PDI, with no control of its own left", () => {
    const shown = isolateText("x\u2069\u202Ey");
    expect(shown).toBe("\u2068x⟨U+2069⟩⟨U+202E⟩y\u2069");
    // Only the isolate it is wrapped in remains: a stray PDI cannot close it early.
    expect(shown.slice(1, -1)).not.toMatch(ANY_CONTROL);
  });

  it("cuts text into plain runs and named controls", () => {
    expect(bidiParts("a\u202Eb\u202C")).toEqual([
      { text: "a" },
      { control: "\u202E", marker: "⟨U+202E⟩", name: "RIGHT-TO-LEFT OVERRIDE" },
      { text: "b" },
      { control: "\u202C", marker: "⟨U+202C⟩", name: "POP DIRECTIONAL FORMATTING" },
    ]);
    expect(bidiParts("")).toEqual([]);
  });
});

describe("truncate", () => {
  it("cuts with an ellipsis, never through a surrogate pair", () => {
    expect(truncate("abc", 3)).toBe("abc");
    expect(truncate("abcd", 3)).toBe("ab…");
    expect(truncate("a😀bc", 3)).toBe("a…");
    expect(truncate("ab😀c", 4)).toBe("ab…");
  });
});
