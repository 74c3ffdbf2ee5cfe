import type { SessionDetail } from "../api";

/** A session detail as the API answers it, with ``overrides`` (the fields a test is about). */
export function sessionDetail(overrides: Partial<SessionDetail> = {}): SessionDetail {
  return {
    id: "123",
    project_id: 1,
    started_at: "2026-03-02T10:00:00Z",
    last_seen_at: "2026-03-02T10:05:00Z",
    token_expires_at: "2026-03-02T12:00:00Z",
    duration_ms: 300_000,
    page_url: "https://shop.example/",
    user_agent: "UA",
    user_id: null,
    metadata: null,
    backend_events: 0,
    backend_events_by_provider: {},
    events: [],
    next_events_cursor: null,
    token: "1.abc.def",
    ...overrides,
  };
}
