// Markers of the session's timeline: frontend errors, failed requests, backend errors.
import type { TimelineEvent } from "../api";

export type MarkerKind = "js_error" | "failed_request" | "console_error" | "backend" | "custom" | "page";

export interface Marker {
  id: string;
  kind: MarkerKind;
  offsetMs: number;
  title: string;
  provider?: string | null;
  outside: boolean;
  fingerprint?: string | null;
  backend?: TimelineEvent | null;
  message?: string | null;
  url?: string | null;
  status?: number | null;
  level?: string | null;
  tab?: string | null;
  data?: Record<string, unknown> | null;
}

export const SEEK_LEAD_MS = 2000;
/** Where a click on a marker (or a row) puts the player: 2 s before it, never before the start. */
export function seekTarget(offsetMs: number): number {
  return Math.max(0, offsetMs - SEEK_LEAD_MS);
}

export const KIND_LABEL: Record<MarkerKind, string> = {
  js_error: "JS error",
  failed_request: "Failed request",
  console_error: "Console error",
  backend: "Backend error",
  custom: "Event",
  page: "Page",
};

/** The /timeline answer's items as markers. */
export interface TimelineItem {
  kind: MarkerKind;
  ts_ms: number;
  offset_ms: number;
  outside_recording: boolean;
  tab: string | null;
  title: string;
  message: string | null;
  url: string | null;
  status: number | null;
  level: string | null;
  data: Record<string, unknown> | null;
  backend: (TimelineEvent & { fingerprint?: string }) | null;
}

export function markersFromTimeline(items: TimelineItem[]): Marker[] {
  return items.map((item, i) => ({
    id: `${item.kind}-${i}-${item.ts_ms}`,
    kind: item.kind,
    offsetMs: item.offset_ms,
    title: item.kind === "backend" && item.backend ? item.backend.title : item.title,
    provider: item.backend?.provider ?? null,
    outside: item.outside_recording,
    fingerprint: item.backend?.fingerprint ?? null,
    backend: item.backend,
    message: item.message ?? item.backend?.message ?? null,
    url: item.url,
    status: item.status,
    level: item.level ?? item.backend?.level ?? null,
    tab: item.tab,
    data: item.data,
  }));
}

/** Backend events of the session detail as markers (a session without a recording). */
export function markersFromBackend(events: (TimelineEvent & { fingerprint?: string; outside_session?: boolean | null })[]): Marker[] {
  return events
    .filter((e) => e.offset_ms !== null)
    .map((e, i) => ({
      id: `backend-${e.id ?? i}`,
      kind: "backend" as const,
      offsetMs: e.offset_ms ?? 0,
      title: e.title,
      provider: e.provider,
      outside: Boolean(e.outside_session),
      fingerprint: e.fingerprint ?? null,
      backend: e,
      message: e.message ?? null,
      url: e.link ?? null,
      level: e.level ?? null,
    }));
}
