import { describe, expect, it, vi } from "vitest";
import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { Count, SearchProgress } from "./SearchProgress";

describe("a text search that stopped at its budget", () => {
  it("says how far back it searched and goes on when asked", async () => {
    const onMore = vi.fn();
    render(<SearchProgress searchedTo="2026-03-02T10:06:00Z" found={3} loading={false} onMore={onMore} />);
    expect(screen.getByRole("status").textContent).toContain(`Searched back to ${new Date("2026-03-02T10:06:00Z").toLocaleString()}`);
    expect(screen.getByRole("status").textContent).not.toContain("No match yet");
    await userEvent.click(screen.getByRole("button", { name: "Search further" }));
    expect(onMore).toHaveBeenCalledTimes(1);
  });

  it("says when nothing is found yet, and waits while it searches", () => {
    render(<SearchProgress searchedTo="2026-03-02T10:06:00Z" found={0} loading onMore={() => {}} />);
    expect(screen.getByRole("status").textContent).toContain("No match yet.");
    expect(screen.getByRole("button", { name: "Searching…" })).toHaveProperty("disabled", true);
  });
});

describe("counts", () => {
  it("marks estimates with ≈ and leaves exact counts as they are", () => {
    const { container, rerender } = render(<Count value={1200} estimated />);
    expect(container.textContent).toBe("≈ 1200");
    expect(screen.getByTitle("Estimated from a sample of the events")).toBeTruthy();
    rerender(<Count value={12} estimated={false} />);
    expect(container.textContent).toBe("12");
  });
});
