// The /api/v1 JSON API, called with the sign-in cookie and the CSRF header (never an API key).

export interface ErrorBody {
  error: { code: string; message: string; details?: unknown };
}

export class ApiError extends Error {
  constructor(
    public status: number,
    public code: string,
    message: string,
    public details?: unknown,
  ) {
    super(message);
  }
}

const CSRF_COOKIE = "replaylink_csrf";
let csrfToken: string | null = null;

export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

function csrf(): string | null {
  if (csrfToken) return csrfToken;
  const match = document.cookie.split("; ").find((c) => c.startsWith(CSRF_COOKIE + "="));
  return match ? decodeURIComponent(match.slice(CSRF_COOKIE.length + 1)) : null;
}

let onUnauthorized: (() => void) | null = null;
export function whenUnauthorized(fn: (() => void) | null): void {
  onUnauthorized = fn;
}

export async function api<T>(
  path: string,
  init: { method?: string; body?: unknown; query?: Record<string, unknown>; headers?: Record<string, string> } = {},
): Promise<T> {
  const method = init.method ?? "GET";
  const headers: Record<string, string> = { ...init.headers, Accept: "application/json" };
  if (init.body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET") {
    const token = csrf();
    if (token) headers["X-CSRF-Token"] = token;
  }
  let url = path;
  if (init.query) {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(init.query)) {
      if (v === undefined || v === null || v === "") continue;
      params.set(k, String(v));
    }
    const q = params.toString();
    if (q) url += (url.includes("?") ? "&" : "?") + q;
  }
  const response = await fetch(url, {
    method,
    headers,
    credentials: "same-origin",
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  let data: unknown = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    throw new ApiError(response.status, "bad_answer", `The server answered ${response.status} without JSON.`);
  }
  if (!response.ok) {
    const err = (data as ErrorBody | null)?.error;
    if (response.status === 401 && onUnauthorized && !path.endsWith("/auth/login")) onUnauthorized();
    throw new ApiError(response.status, err?.code ?? "error", err?.message ?? `HTTP ${response.status}`, err?.details);
  }
  return data as T;
}

// ---------------------------------------------------------------- types of the answers

export interface User {
  id: number;
  email: string;
  is_admin: boolean;
}
export interface Me {
  user: User;
  csrf_token: string;
}
export interface Project {
  id: number;
  name: string;
  project_key: string;
  allowed_origins: string[] | null;
  created_at: string;
}
export interface SessionRow {
  id: string;
  started_at: string;
  last_seen_at: string;
  /** First to last recorded event, else start to last seen; null while only the start is known. */
  duration_ms: number | null;
  page_url: string;
  user_id: string | null;
  backend_events: number;
  backend_events_by_provider: Record<string, number>;
  first_error_title: string | null;
  recording?: RecordingStats;
}
export interface RecordingStats {
  started_at: string | null;
  ended_at: string | null;
  duration_ms: number;
  last_activity_at?: string | null;
  segments: number;
  bytes: number;
  pages_visited: number;
  clicks: number;
  js_errors: number;
  failed_requests: number;
}
export interface SessionList {
  sessions: SessionRow[];
  next_cursor: string | null;
  /** Set when a text search stopped at its time budget: searched back to here; next_cursor goes on. */
  searched_to?: string | null;
}
export interface TimelineEvent {
  id?: string | number | null;
  provider?: string | null;
  integration?: string | null;
  kind?: string | null;
  timestamp: string;
  offset_ms: number | null;
  in_recording?: boolean | null;
  level?: string | null;
  title: string;
  message?: string | null;
  exception_type?: string | null;
  service?: string | null;
  host?: string | null;
  logger?: string | null;
  link?: string | null;
  attributes?: Record<string, unknown> | null;
  stack?: unknown;
  source?: string | null;
}
export interface SessionDetail {
  id: string;
  project_id: number;
  started_at: string;
  last_seen_at: string;
  /** When the token stops being valid: not when the user left. */
  token_expires_at: string;
  duration_ms: number | null;
  page_url: string;
  user_agent: string;
  user_id: string | null;
  metadata: Record<string, unknown> | null;
  backend_events: number;
  backend_events_by_provider: Record<string, number>;
  events: TimelineEvent[];
  next_events_cursor: string | null;
  token?: string | null;
}
export interface ProviderAnswer {
  integration_id: number;
  provider: string;
  name: string;
  status: string;
  message: string | null;
  truncated: boolean;
  cached: boolean;
  fetched_at: string | null;
  records: number;
  retry_after: number | null;
}
export interface BackendLogs {
  session_id: string;
  providers: ProviderAnswer[];
  events: TimelineEvent[];
  imported_truncated: boolean;
}
export interface ErrorGroup {
  fingerprint: string;
  provider: string | null;
  title: string | null;
  count: number;
  sessions: number;
  first_seen: string;
  last_seen: string;
  sample: TimelineEvent | null;
  /** count, sessions, first_seen and last_seen estimated from a sample of the events (a text search of many matches). */
  estimated?: boolean;
}
export interface ErrorGroupList {
  groups: ErrorGroup[];
  next_cursor: string | null;
}
export interface JsonSchema {
  type?: string | string[];
  title?: string;
  description?: string;
  default?: unknown;
  enum?: unknown[];
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  format?: string;
  secret?: boolean;
  writeOnly?: boolean;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  pattern?: string;
  choices?: boolean;
  address?: boolean;
}
export interface ProviderInfo {
  name: string;
  label: string;
  settings_schema: JsonSchema;
  secret_fields: string[];
  choice_fields?: string[];
}
export interface Health {
  status: string;
  last_success_at: string | null;
  last_error_at: string | null;
  last_error: string | null;
  last_error_kind: string | null;
  consecutive_failures: number;
  lag_seconds: number | null;
  records_scanned: number;
  events_imported: number;
  next_poll_at: string | null;
}
export interface Integration {
  provider: string;
  name: string;
  enabled: boolean;
  paused: boolean;
  settings: Record<string, unknown>;
  poll_interval_seconds: number;
  created_at: string;
  updated_at: string;
  health: Health;
  /** why the stored credentials cannot be read (a key missing after a rotation); null when they can */
  credentials_error?: string | null;
}
export interface Change {
  at: string;
  action: string;
  actor: string;
  changes: Record<string, unknown>;
}
export interface ApiKeyRow {
  id: number;
  name: string;
  prefix: string;
  project_id: number | null;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
  key?: string;
}
export interface UserRow {
  id: number;
  email: string;
  is_admin: boolean;
  project_ids: number[];
  created_at: string;
  password?: string | null;
}

/** One entry of an error's `details` (README: a list of `{field, message}`, plus `kind`, `retry_after`...). */
export interface ErrorDetail {
  field?: string | null;
  message?: string;
  kind?: string;
  retry_after?: number;
}

function detailList(details: unknown): ErrorDetail[] {
  return Array.isArray(details) ? details.filter((d): d is ErrorDetail => !!d && typeof d === "object") : [];
}

/** The settings field the first problem names (top-level name of a dotted path), if any. */
export function problemField(details: unknown): string | null {
  const field = detailList(details)[0]?.field;
  return typeof field === "string" ? field.split(".")[0] ?? field : null;
}

/** Each named field's message (keyed by the top-level field of a dotted path). */
export function fieldProblems(details: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const { field, message } of detailList(details)) {
    if (typeof field === "string" && typeof message === "string") out[field.split(".")[0] ?? field] = message;
  }
  return out;
}
