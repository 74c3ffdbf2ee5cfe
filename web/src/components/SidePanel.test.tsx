import { describe, expect, it, vi } from "vitest";
import { render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { SidePanel, currentIndex } from "./SidePanel";
import { markersFromBackend } from "./markers";
import type { BackendLogs } from "../api";
import { sessionDetail } from "../test/fixtures";

const HOSTILE = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>boom';

const session = sessionDetail({
  page_url: "https://shop.example/<b>cart</b>",
  user_id: "<i>u1</i>",
  metadata: { plan: "<b>pro</b>" },
  backend_events: 2,
  backend_events_by_provider: { datadog: 2 },
});

const backend = markersFromBackend([
  { id: "1", provider: "datadog", title: "First", message: HOSTILE, timestamp: "", offset_ms: 10_000, link: "javascript:alert(1)" },
  { id: "2", provider: "datadog", title: "Second", message: "two", timestamp: "", offset_ms: 40_000, link: "https://app.datadoghq.com/logs?id=2" },
]);

function panel(overrides: Partial<Parameters<typeof SidePanel>[0]> = {}) {
  const props = {
    session,
    backend,
    consoleLines: [{ offsetMs: 2000, level: "error", message: "<script>x()</script>" }],
    network: [{ offsetMs: 3000, method: "POST", url: "/api/pay", status: 500, durationMs: 12, failed: true }],
    currentMs: 15_000,
    onSeek: vi.fn(),
    providerLabel: (n: string | null | undefined) => (n === "datadog" ? "Datadog" : n ?? ""),
    loadLive: vi.fn(),
    ...overrides,
  };
  render(<SidePanel {...props} />);
  return props;
}

describe("SidePanel", () => {
  it("renders hostile log text as text, and links only http(s) deep links", () => {
    const { container } = render(<div />);
    panel();
    const body = screen.getByRole("tabpanel");
    expect(body).toHaveTextContent(HOSTILE);
    expect(body.querySelector("img, script")).toBeNull();
    const links = within(body).getAllByRole("link");
    expect(links.map((a) => a.getAttribute("href"))).toEqual(["https://app.datadoghq.com/logs?id=2"]);
    expect(links[0]).toHaveAttribute("rel", "noopener noreferrer nofollow");
    expect(container).toBeTruthy();
  });

  it("follows playback and seeks from a row", async () => {
    const props = panel();
    const rows = screen.getByRole("tabpanel").querySelectorAll("li.row");
    expect(rows[0]).toHaveClass("current");
    expect(rows[1]).toHaveClass("future");
    await userEvent.click(screen.getByRole("button", { name: "Play 2 s before: Second" }));
    expect(props.onSeek).toHaveBeenCalledWith(40_000);
    expect(currentIndex([1, 5, 9], 6)).toBe(1);
    expect(currentIndex([1, 5, 9], 0)).toBe(-1);
  });

  it("loads live logs and shows each provider's status", async () => {
    const answer: BackendLogs = {
      session_id: "123",
      imported_truncated: false,
      providers: [
        { integration_id: 1, provider: "datadog", name: "default", status: "ok", message: null, truncated: false, cached: false, fetched_at: null, records: 1, retry_after: null },
        { integration_id: 2, provider: "sentry", name: "default", status: "error", message: "Sentry refused the token", truncated: false, cached: false, fetched_at: null, records: 0, retry_after: null },
      ],
      events: [{ source: "live", provider: "datadog", title: "Live one", message: "live", timestamp: "", offset_ms: 20_000 }],
    };
    const loadLive = vi.fn().mockResolvedValue(answer);
    panel({ loadLive });
    await userEvent.click(screen.getByRole("button", { name: "Load live logs" }));
    const status = await screen.findByRole("list", { name: "Live log answers" });
    expect(status).toHaveTextContent("Datadog (default): ok, 1 records");
    expect(status).toHaveTextContent("sentry (default): error — Sentry refused the token");
    expect(screen.getByText("Live one")).toBeInTheDocument();
  });

  it("has Console, Network and Metadata tabs reachable with the arrow keys", async () => {
    panel();
    const backendTab = screen.getByRole("tab", { name: /Backend/ });
    backendTab.focus();
    await userEvent.keyboard("{ArrowRight}");
    expect(screen.getByRole("tab", { name: /Console/ })).toHaveAttribute("aria-selected", "true");
    expect(screen.getByRole("tabpanel")).toHaveTextContent("error: <script>x()</script>");
    await userEvent.keyboard("{ArrowRight}");
    expect(screen.getByRole("tabpanel")).toHaveTextContent("POST 500 /api/pay");
    await userEvent.keyboard("{ArrowRight}");
    const meta = screen.getByRole("tabpanel");
    expect(meta).toHaveTextContent("<i>u1</i>");
    expect(meta).toHaveTextContent("<b>pro</b>");
    expect(meta).toHaveTextContent("1.abc.def");
    expect(meta.querySelector("i, b")).toBeNull();
    expect(meta).toHaveTextContent("Duration5:00");
    expect(meta).toHaveTextContent(/Token expires/);
  });

  it("shows an unknown duration as unknown, never as the token's lifetime", async () => {
    panel({ session: { ...session, last_seen_at: session.started_at, duration_ms: null } });
    screen.getByRole("tab", { name: /Backend/ }).focus();
    await userEvent.keyboard("{ArrowRight}{ArrowRight}{ArrowRight}");
    expect(screen.getByRole("tabpanel")).toHaveTextContent("Duration–");
  });

  it("isolates each provider and page text, and shows its direction controls instead of applying them", async () => {
    const ANY_CONTROL = /[\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/;
    const spoof = markersFromBackend([
      { id: "9", provider: "datadog", title: "Upload \u202Egnp.exe\u202C", message: "m\u2067sg", timestamp: "", offset_ms: 10_000, service: "api\u202E", host: "web-1" },
    ]);
    panel({
      backend: spoof,
      session: { ...session, user_id: "\u202Eu1", user_agent: "UA\u202B", metadata: { "pl\u202Ean": "p\u200Fro" } },
      consoleLines: [{ offsetMs: 2000, level: "err\u202Eor", message: "bad \u2066thing" }],
      network: [{ offsetMs: 3000, method: "PO\u202EST", url: "/api/\u202Epay", status: 500, durationMs: 12, failed: true }],
    });
    const backendTab = screen.getByRole("tabpanel");
    const title = backendTab.querySelector("bdi.title");
    expect(title?.textContent).toBe("Upload ⟨U+202E⟩gnp.exe⟨U+202C⟩");
    // The time of the row is the dashboard's: outside every isolate.
    expect(within(backendTab).getByText("0:10").closest("bdi")).toBeNull();
    // Service and host are isolated one by one: the service's override cannot reach the host.
    const origin = [...backendTab.querySelectorAll("p.muted bdi")].map((b) => b.textContent);
    expect(origin).toEqual(["api⟨U+202E⟩", "web-1"]);
    expect(screen.getByRole("button", { name: "Play 2 s before: Upload ⟨U+202E⟩gnp.exe⟨U+202C⟩" })).toBeInTheDocument();
    expect(backendTab.textContent).not.toMatch(ANY_CONTROL);

    screen.getByRole("tab", { name: /Backend/ }).focus();
    await userEvent.keyboard("{ArrowRight}");
    const consoleTab = screen.getByRole("tabpanel");
    expect([...consoleTab.querySelectorAll("pre bdi")].map((b) => b.textContent)).toEqual(["err⟨U+202E⟩or", "bad ⟨U+2066⟩thing"]);
    expect(consoleTab.textContent).not.toMatch(ANY_CONTROL);

    await userEvent.keyboard("{ArrowRight}");
    const networkTab = screen.getByRole("tabpanel");
    expect(networkTab).toHaveTextContent("PO⟨U+202E⟩ST 500 /api/⟨U+202E⟩pay 12 ms");
    expect(networkTab.querySelector("bdi.url")?.textContent).toBe("/api/⟨U+202E⟩pay");
    expect(networkTab.querySelector(".status")?.closest("bdi")).toBeNull();
    expect(networkTab.textContent).not.toMatch(ANY_CONTROL);

    await userEvent.keyboard("{ArrowRight}");
    const meta = screen.getByRole("tabpanel");
    expect(meta).toHaveTextContent("User id⟨U+202E⟩u1Started");
    expect(meta).toHaveTextContent("User agentUA⟨U+202B⟩");
    expect(meta).toHaveTextContent("pl⟨U+202E⟩anp⟨U+200F⟩ro");
    expect(meta.textContent).not.toMatch(ANY_CONTROL);
  });
});
