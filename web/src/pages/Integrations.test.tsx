import { afterEach, describe, expect, it, vi } from "vitest";
import { render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { MemoryRouter, Route, Routes } from "react-router";
import { IntegrationsPage } from "./Integrations";
import type { Integration, ProviderInfo } from "../api";

const provider: ProviderInfo = {
  name: "acme",
  label: "Acme Logs",
  secret_fields: ["api_key"],
  settings_schema: {
    type: "object",
    required: ["api_key", "site"],
    properties: {
      api_key: { type: "string", title: "API Key", format: "password", secret: true, writeOnly: true },
      site: { type: "string", title: "Site" },
    },
  },
};

function integration(name: string): Integration {
  return {
    provider: "acme",
    name,
    enabled: true,
    paused: false,
    settings: { api_key: "********abcd", site: "eu.acme.example" },
    poll_interval_seconds: 60,
    created_at: "2026-03-02T10:00:00Z",
    updated_at: "2026-03-02T10:00:00Z",
    health: {
      status: "ok",
      last_success_at: null,
      last_error_at: null,
      last_error: null,
      last_error_kind: null,
      consecutive_failures: 0,
      lag_seconds: null,
      records_scanned: 0,
      events_imported: 0,
      next_poll_at: null,
    },
  };
}

interface Call {
  method: string;
  url: string;
}

/** A fake API: ``lists`` are the successive answers of GET .../integrations (the last one repeats). */
function fakeApi(lists: Integration[][]) {
  const calls: Call[] = [];
  let listed = 0;
  const json = (status: number, body: unknown) =>
    new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
  const fetchMock = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = String(input);
    const method = init?.method ?? "GET";
    calls.push({ method, url });
    if (url === "/api/v1/integrations/providers") return json(200, [provider]);
    if (url === "/api/v1/projects/1/integrations" && method === "GET") {
      const list = lists[Math.min(listed, lists.length - 1)];
      listed++;
      return json(200, list);
    }
    if (url.endsWith("/check") && method === "POST") return json(200, { ok: true, message: "Connected." });
    if (method === "PUT") return json(201, integration(decodeURIComponent(url.split("/").pop() ?? "")));
    return json(404, { error: { code: "not_found", message: "Not found" } });
  });
  vi.stubGlobal("fetch", fetchMock);
  return calls;
}

function renderPage() {
  const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  render(
    <QueryClientProvider client={client}>
      <MemoryRouter initialEntries={["/projects/1/preferences/integrations"]}>
        <Routes>
          <Route path="/projects/:projectId/preferences/integrations" element={<IntegrationsPage />} />
        </Routes>
      </MemoryRouter>
    </QueryClientProvider>,
  );
}

const puts = (calls: Call[]) => calls.filter((c) => c.method === "PUT");
const checks = (calls: Call[]) => calls.filter((c) => c.url.endsWith("/check"));

afterEach(() => {
  vi.unstubAllGlobals();
});

describe("Preferences > Integrations: a new integration never replaces an existing one", () => {
  it("refuses a name the provider already has, with an inline message, and never checks nor saves it", async () => {
    const user = userEvent.setup();
    const calls = fakeApi([[integration("default"), integration("prod")]]);
    renderPage();
    await user.click(await screen.findByRole("button", { name: "Add another Acme Logs integration" }));
    const form = screen.getByRole("form", { name: "Acme Logs settings" });
    const nameInput = within(form).getByLabelText("Integration name");
    // The suggested name is free.
    expect(nameInput).toHaveValue("default-2");
    expect(within(form).queryByTestId("name-taken")).toBeNull();

    await user.clear(nameInput);
    await user.type(nameInput, "prod");
    const message = within(form).getByTestId("name-taken");
    expect(message).toHaveTextContent("An integration named prod already exists; edit it instead.");
    expect(nameInput).toHaveAttribute("aria-invalid", "true");
    expect(within(form).getByRole("button", { name: "Check" })).toBeDisabled();
    expect(within(form).getByRole("button", { name: "Save" })).toBeDisabled();

    // Submitting anyway (Enter in a field) sends nothing.
    await user.type(within(form).getByLabelText(/Site/), "x{Enter}");
    expect(checks(calls)).toHaveLength(0);
    expect(puts(calls)).toHaveLength(0);

    // A free name clears the message.
    await user.type(nameInput, "-2");
    expect(within(form).queryByTestId("name-taken")).toBeNull();
    expect(within(form).getByRole("button", { name: "Check" })).toBeEnabled();
  });

  it("re-reads the list before the PUT and refuses a name another tab saved meanwhile", async () => {
    const user = userEvent.setup();
    // The page loads with no integration; by the time this tab saves, another one created "default".
    const calls = fakeApi([[], [], [integration("default")]]);
    renderPage();
    await user.click(await screen.findByRole("button", { name: "Connect Acme Logs" }));
    const form = screen.getByRole("form", { name: "Acme Logs settings" });
    expect(within(form).getByLabelText("Integration name")).toHaveValue("default");
    await user.type(within(form).getByLabelText(/API Key/), "secret");
    await user.type(within(form).getByLabelText(/Site/), "us.acme.example");
    await user.click(within(form).getByRole("button", { name: "Check" }));
    await waitFor(() => expect(within(form).getByRole("button", { name: "Save" })).toBeEnabled());

    await user.click(within(form).getByRole("button", { name: "Save" }));
    expect(await within(form).findByTestId("name-taken")).toHaveTextContent("An integration named default already exists; edit it instead.");
    expect(puts(calls)).toHaveLength(0);
    expect(within(form).getByRole("button", { name: "Save" })).toBeDisabled();
    // The existing integration is now listed, untouched.
    expect(screen.getByRole("article", { name: "Acme Logs integration default" })).toBeInTheDocument();
  });

  it("still creates an integration under a free name with one PUT", async () => {
    const user = userEvent.setup();
    const calls = fakeApi([[integration("default")]]);
    renderPage();
    await user.click(await screen.findByRole("button", { name: "Add another Acme Logs integration" }));
    const form = screen.getByRole("form", { name: "Acme Logs settings" });
    await user.type(within(form).getByLabelText(/API Key/), "secret");
    await user.type(within(form).getByLabelText(/Site/), "us.acme.example");
    await user.click(within(form).getByRole("button", { name: "Check" }));
    await waitFor(() => expect(within(form).getByRole("button", { name: "Save" })).toBeEnabled());
    await user.click(within(form).getByRole("button", { name: "Save" }));
    await waitFor(() => expect(screen.queryByRole("form", { name: "Acme Logs settings" })).toBeNull());
    expect(puts(calls).map((c) => c.url)).toEqual(["/api/v1/projects/1/integrations/acme/default-2"]);
    expect(screen.queryByTestId("name-taken")).toBeNull();
  });
});
