import { describe, expect, it } from "vitest";
import { render, screen, within } from "@testing-library/react";
import { MemoryRouter } from "react-router";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { SessionTable } from "./Sessions";
import { when } from "../format";
import type { ProviderInfo, SessionRow } from "../api";

const ANY_CONTROL = /[\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/;

const row: SessionRow = {
  id: "42",
  started_at: "2026-03-02T10:00:00Z",
  last_seen_at: "2026-03-02T10:05:00Z",
  duration_ms: 300_000,
  page_url: "https://shop.example/\u2067cart",
  user_id: "\u202Eevil-user",
  backend_events: 1,
  backend_events_by_provider: { datadog: 1 },
  first_error_title: "Upload of \u202Egnp.exe\u202C failed",
};

function table(rows: SessionRow[]) {
  const qc = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  qc.setQueryData<ProviderInfo[]>(["providers"], [{ name: "datadog", label: "Datadog", settings_schema: {}, secret_fields: [] }]);
  return render(
    <QueryClientProvider client={qc}>
      <MemoryRouter>
        <SessionTable projectId={1} rows={rows} />
      </MemoryRouter>
    </QueryClientProvider>,
  );
}

describe("the sessions table", () => {
  it("isolates the user id in its cell, away from the start time, and shows its override", () => {
    table([row]);
    const cells = within(screen.getAllByRole("row")[1] as HTMLElement).getAllByRole("cell");
    const [userCell, startedCell] = cells;
    const link = within(userCell as HTMLElement).getByRole("link", { name: "Play session 42 of ⟨U+202E⟩evil-user" });
    const user = link.querySelector("bdi");
    expect(user?.textContent).toBe("⟨U+202E⟩evil-user");
    expect(startedCell).toHaveTextContent(when(row.started_at));
    expect(startedCell?.querySelector("bdi")).toBeNull();
    // The page URL and the first error are each isolated; no control reaches the page.
    const lastCell = cells.at(-1) as HTMLElement;
    expect([...lastCell.querySelectorAll("bdi")].map((b) => [b.className, b.textContent])).toEqual([
      ["untrusted url", "https://shop.example/⟨U+2067⟩cart"],
      ["untrusted first-error", "Upload of ⟨U+202E⟩gnp.exe⟨U+202C⟩ failed"],
    ]);
    expect(screen.getByRole("table").textContent).not.toMatch(ANY_CONTROL);
  });
});
