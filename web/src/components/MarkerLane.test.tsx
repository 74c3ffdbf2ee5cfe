import { describe, expect, it, vi } from "vitest";
import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { MarkerLane } from "./MarkerLane";
import { markersFromTimeline, seekTarget, type TimelineItem } from "./markers";

function item(kind: TimelineItem["kind"], offset: number, title: string, extra: Partial<TimelineItem> = {}): TimelineItem {
  return { kind, ts_ms: 1_700_000_000_000 + offset, offset_ms: offset, outside_recording: false, tab: "t", title, message: null, url: null, status: null, level: null, data: null, backend: null, ...extra };
}

describe("MarkerLane", () => {
  const items = [
    item("js_error", 5_000, "TypeError: x is undefined"),
    item("failed_request", 20_000, "POST /api/pay 500"),
    item("backend", 30_000, "datadog: PaymentError", {
      backend: { provider: "datadog", title: "PaymentError: declined", timestamp: "", offset_ms: 30_000, fingerprint: "f1" },
    }),
    item("backend", -4_000, "sentry: Early", { outside_recording: true, backend: { provider: "sentry", title: "Early", timestamp: "", offset_ms: -4000 } }),
    item("page", 0, "https://shop.example/"),
  ];
  const markers = markersFromTimeline(items);

  it("shows one button per error, named by its title, coloured by kind, with provider and time on hover", () => {
    render(<MarkerLane markers={markers} durationMs={60_000} currentMs={0} onSeekMarker={() => {}} onScrub={() => {}} providerLabel={(n) => (n === "datadog" ? "Datadog" : n ?? "")} />);
    const backend = screen.getByRole("button", { name: "PaymentError: declined" });
    expect(backend.closest("li")).toHaveClass("kind-backend");
    // The title is the provider's text: isolated (FSI … PDI) in the tooltip.
    expect(backend).toHaveAttribute("title", "Backend error · Datadog · 0:30: \u2068PaymentError: declined\u2069");
    expect(screen.getByRole("button", { name: "TypeError: x is undefined" }).closest("li")).toHaveClass("kind-js_error");
    expect(screen.getByRole("button", { name: "POST /api/pay 500" }).closest("li")).toHaveClass("kind-failed_request");
    expect(screen.queryByRole("button", { name: "https://shop.example/" })).toBeNull(); // pages are not errors
    const early = screen.getByRole("button", { name: "Early" });
    expect(early.closest("li")).toHaveClass("outside");
    expect(early.getAttribute("title")).toContain("before the recording");
    expect(backend.closest("li")?.getAttribute("style")).toContain("left: 50%");
  });

  it("hands the clicked marker over, and the page seeks 2 s before it", async () => {
    const onSeek = vi.fn();
    render(<MarkerLane markers={markers} durationMs={60_000} currentMs={0} onSeekMarker={onSeek} onScrub={() => {}} />);
    await userEvent.click(screen.getByRole("button", { name: "PaymentError: declined" }));
    expect(onSeek).toHaveBeenCalledWith(expect.objectContaining({ offsetMs: 30_000, fingerprint: "f1" }));
    expect(seekTarget(30_000)).toBe(28_000);
    expect(seekTarget(1_000)).toBe(0);
  });

  it("keeps a title's direction controls out of the tooltip and the button's name", () => {
    const spoof = markersFromTimeline([item("js_error", 5_000, "Error in \u202Egnp.exe\u202C")]);
    render(<MarkerLane markers={spoof} durationMs={60_000} currentMs={0} onSeekMarker={() => {}} onScrub={() => {}} />);
    const button = screen.getByRole("button", { name: "Error in ⟨U+202E⟩gnp.exe⟨U+202C⟩" });
    // Its own words and the time stay outside the isolate; inside, no control is applied.
    expect(button).toHaveAttribute("title", "JS error · 0:05: \u2068Error in ⟨U+202E⟩gnp.exe⟨U+202C⟩\u2069");
  });

  it("has a scrubber that names the current time", () => {
    render(<MarkerLane markers={[]} durationMs={600_000} currentMs={65_000} onSeekMarker={() => {}} onScrub={() => {}} />);
    expect(screen.getByRole("slider", { name: "Playback position" })).toHaveAttribute("aria-valuetext", "1:05 of 10:00");
  });
});
