/** The session as kept in this tab's sessionStorage (scoped to the project key), with this tab's id and seq. */

export interface SessionState {
  sessionId: string;
  token: string;
  projectId: number | null;
  /** ms epoch (server clock) */
  expiresAt: number;
  /** ms epoch (client clock) of the last user activity */
  lastActivity: number;
  /** next batch sequence number of `tab` in this session */
  seq: number;
  /** this tab's id (absent in records of older trackers) */
  tab?: string;
  /** a page holds the tab: set while a page records, cleared on pagehide. Found set by a new page, it was copied
   * with the opener's sessionStorage (`window.open`) or its page crashed: the new page is another tab. */
  live?: boolean;
}

const PREFIX = "__replaylink_session:";
/** where trackers before 0.1.1 kept the tab id (one for every project key) */
const LEGACY_TAB_KEY = "__replaylink_tab";
const TAB_ID = /^[A-Za-z0-9_-]{1,64}$/;

function storage(win: Window): Storage | null {
  try {
    const s = win.sessionStorage;
    return s ?? null;
  } catch {
    return null; // sandboxed iframes, disabled storage
  }
}

export function randomId(win: Window): string {
  const bytes = new Uint8Array(12);
  const crypto = (win as Window & { crypto?: Crypto }).crypto;
  if (crypto?.getRandomValues) crypto.getRandomValues(bytes);
  else for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
  return Array.from(bytes, (b) => "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[b & 63]).join("");
}

function isState(v: unknown): v is SessionState {
  const s = v as SessionState;
  return (
    !!s &&
    typeof s.sessionId === "string" &&
    typeof s.token === "string" &&
    typeof s.expiresAt === "number" &&
    typeof s.lastActivity === "number" &&
    typeof s.seq === "number" &&
    Number.isInteger(s.seq) &&
    s.seq >= 0
  );
}

/** Reads and writes one project's session in this tab; falls back to memory when storage is unavailable. */
export class SessionStore {
  private memory: SessionState | null = null;
  private readonly key: string;

  constructor(
    private readonly win: Window,
    projectKey: string,
  ) {
    this.key = PREFIX + projectKey;
  }

  load(): SessionState | null {
    const s = storage(this.win);
    if (!s) return this.memory && { ...this.memory };
    try {
      const raw = s.getItem(this.key);
      const parsed: unknown = raw ? JSON.parse(raw) : null;
      if (!isState(parsed)) return null;
      if (typeof parsed.tab !== "string" || !TAB_ID.test(parsed.tab)) {
        const legacy = s.getItem(LEGACY_TAB_KEY); // its seq went with it
        if (legacy && TAB_ID.test(legacy)) parsed.tab = legacy;
        else delete parsed.tab;
      }
      parsed.live = parsed.live === true;
      return parsed;
    } catch {
      return null;
    }
  }

  save(state: SessionState): void {
    this.memory = { ...state };
    try {
      storage(this.win)?.setItem(this.key, JSON.stringify(state));
    } catch {
      /* quota: the memory copy still works for this page */
    }
  }

  clear(): void {
    this.memory = null;
    try {
      storage(this.win)?.removeItem(this.key);
    } catch {
      /* ignore */
    }
  }
}
