import { describe, expect, it } from "vitest";
import { render } from "@testing-library/react";
import { Untrusted } from "./Untrusted";

const ANY_CONTROL = /[\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/;

describe("Untrusted", () => {
  it("isolates the text in a <bdi> and shows its direction controls instead of applying them", () => {
    const { container } = render(
      <p>
        file <Untrusted text={"\u202Egnp.exe\u202C"} /> uploaded
      </p>,
    );
    const bdi = container.querySelector("bdi");
    expect(bdi).not.toBeNull();
    expect(bdi).toHaveClass("untrusted");
    expect(bdi?.textContent).toBe("⟨U+202E⟩gnp.exe⟨U+202C⟩");
    expect(container.textContent).toBe("file ⟨U+202E⟩gnp.exe⟨U+202C⟩ uploaded");
    expect(container.textContent).not.toMatch(ANY_CONTROL);
    const markers = container.querySelectorAll(".bidi-control");
    expect([...markers].map((m) => m.getAttribute("title"))).toEqual([
      "Hidden direction control (RIGHT-TO-LEFT OVERRIDE), shown and not applied",
      "Hidden direction control (POP DIRECTIONAL FORMATTING), shown and not applied",
    ]);
  });

  it("truncates, keeps a class, and renders markup as text", () => {
    const { container } = render(<Untrusted className="url" text={"<b>x</b>\u202Eyyyyyy"} max={11} />);
    const bdi = container.querySelector("bdi.untrusted.url");
    expect(bdi?.textContent).toBe("<b>x</b>⟨U+202E⟩y…");
    expect(container.querySelector("b")).toBeNull();
  });
});
