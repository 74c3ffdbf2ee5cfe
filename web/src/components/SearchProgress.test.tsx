import { describe, expect, it, vi } from "vitest";
import { act, render, renderHook, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { Count, ONWARD_REQUESTS, SearchProgress, useSearchOnward } from "./SearchProgress";

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

describe("a search that stopped short goes on by itself for a few requests", () => {
  /** A query whose every answer stops short, each adding `perAnswer` matches; returns the requests made. */
  function searching(perAnswer: number, stoppedShort = true) {
    const fetchNextPage = vi.fn();
    const state = { found: 0, key: "q=a" };
    const view = renderHook(
      ({ fetching }: { fetching: boolean }) =>
        useSearchOnward(
          { stoppedShort, hasNextPage: true, isFetchingNextPage: fetching, isFetchNextPageError: false, fetchNextPage },
          state.key,
          state.found,
          50,
        ),
      { initialProps: { fetching: false } },
    );
    const answer = () => {
      view.rerender({ fetching: true });
      state.found += perAnswer;
      view.rerender({ fetching: false });
    };
    return { fetchNextPage, view, answer, state };
  }

  it("asks again until its requests are used, then waits for Search further, which gives as many more", () => {
    const { fetchNextPage, view, answer } = searching(0);
    for (let i = 0; i < 20; i++) answer();
    expect(fetchNextPage).toHaveBeenCalledTimes(ONWARD_REQUESTS);
    act(() => view.result.current());
    for (let i = 0; i < 20; i++) answer();
    expect(fetchNextPage).toHaveBeenCalledTimes(2 * ONWARD_REQUESTS);
  });

  it("stops once a page more of matches is listed", () => {
    const { fetchNextPage, answer } = searching(30);
    for (let i = 0; i < 5; i++) answer();
    expect(fetchNextPage).toHaveBeenCalledTimes(2); // 0 -> 30 -> 60: a page (50) found
  });

  it("starts over when the search changes, and does nothing for an answer that did not stop short", () => {
    const { fetchNextPage, view, answer, state } = searching(0);
    for (let i = 0; i < 20; i++) answer();
    state.key = "q=b";
    answer();
    expect(fetchNextPage).toHaveBeenCalledTimes(ONWARD_REQUESTS + 1);
    view.unmount();
    const finished = searching(0, false);
    finished.answer();
    expect(finished.fetchNextPage).not.toHaveBeenCalled();
  });
});
