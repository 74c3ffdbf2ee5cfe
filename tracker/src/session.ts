/** The session as kept in this tab's sessionStorage (scoped to the project key), and the tab id. */

export interface SessionState {
  sessionId: string;
  token: string;
  projectId: number | null;
  /** ms epoch (server clock) */
  expiresAt: number;
  /** ms epoch (client clock) of the last user activity */
  lastActivity: number;
  /** next batch sequence number of this tab in this session */
  seq: number;
}

const PREFIX = "__replaylink_session:";
const TAB_KEY = "__replaylink_tab";

function storage(win: Window): Storage | null {
  try {
    const s = win.sessionStorage;
    return s ?? null;
  } catch {
    return null; // sandboxed iframes, disabled storage
  }
}

function randomId(win: Window): string {
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
  private memoryTab: string | null = null;
  private readonly key: string;

  constructor(
    private readonly win: Window,
    projectKey: string,
  ) {
    this.key = PREFIX + projectKey;
  }

  load(): SessionState | null {
    const s = storage(this.win);
    if (!s) return this.memory;
    try {
      const raw = s.getItem(this.key);
      const parsed: unknown = raw ? JSON.parse(raw) : null;
      return isState(parsed) ? parsed : null;
    } catch {
      return null;
    }
  }

  save(state: SessionState): void {
    this.memory = state;
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

  /** This tab's id: kept in sessionStorage, so the same across reloads and page loads in the tab. */
  tabId(): string {
    const s = storage(this.win);
    try {
      const existing = s?.getItem(TAB_KEY);
      if (existing && /^[A-Za-z0-9_-]{1,64}$/.test(existing)) return existing;
    } catch {
      /* fall through */
    }
    if (!s && this.memoryTab) return this.memoryTab;
    const id = randomId(this.win);
    this.memoryTab = id;
    try {
      s?.setItem(TAB_KEY, id);
    } catch {
      /* ignore */
    }
    return id;
  }
}
