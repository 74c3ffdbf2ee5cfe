/** Options of `new Tracker({...})`; OpenReplay's names where OpenReplay has one. */

export type OriginPattern = string | RegExp;

export interface NetworkOptions {
  /** Header that carries the session token; `false` turns header injection off. Default `X-OpenReplay-SessionToken`. */
  sessionTokenHeader?: string | false;
  /** Other origins (besides the page's own) that get the header: `https://api.example.com`,
   * `https://*.example.com`, or RegExps tested against the origin (`https://api.example.com:8443`). */
  tokenOrigins?: OriginPattern[];
  /** Also add a W3C `baggage` entry `openReplaySessionToken=<token>` (merged into an existing header). */
  baggage?: boolean;
  /** Record fetch/XHR requests as devtools events (method, redacted URL, status, timing, sizes). Default true. */
  capture?: boolean;
  /** Rewrites a URL before it is recorded (after the built-in redaction); return null to skip the request. */
  sanitizeUrl?: (url: string) => string | null;
}

export interface TrackerOptions {
  /** The project key from `replaylink project list`. */
  projectKey: string;
  /** The ReplayLink server's base URL, e.g. `https://replaylink.example.com`. */
  ingestPoint: string;
  network?: NetworkOptions;
  /** Mask every input's value (passwords are masked whatever this says). Default true. */
  maskAllInputs?: boolean;
  /** Replace email addresses in page text with asterisks. Default true. */
  obscureTextEmails?: boolean;
  /** Replace digits in page text with asterisks. Default false. */
  obscureTextNumbers?: boolean;
  /** CSS selector of elements whose text is masked (besides `.rr-mask` and `[data-openreplay-masked]`). */
  maskTextSelector?: string;
  /** CSS selector of elements not recorded at all (besides `.rr-block` and `[data-openreplay-hidden]`). */
  blockSelector?: string;
  /** Record console.error/console.warn. Default true. */
  consoleCapture?: boolean;
  /** Record uncaught errors and unhandled rejections. Default true. */
  captureExceptions?: boolean;
  /** Minutes without user activity after which the next activity starts a new session. Default 30. */
  sessionIdleMinutes?: number;
  /** Milliseconds between full snapshots. Default 5 minutes. */
  checkoutEveryMs?: number;
  /** Mutations in one batch above which incremental recording pauses (resumes with a full snapshot). */
  mutationLimit?: number;
  /** DOM changes are coalesced: after one is recorded, those of the next this many milliseconds are recorded
   * together at its end (or at once when an interaction, a snapshot or the page hiding comes first). Changes
   * undone within the window are not replayed. Cuts the cost of pages that change many times a second; 0 records
   * each batch of changes on its own. Default 100. */
  mutationBatchMs?: number;
  /** Print the tracker's own problems to the console. Default true (once per kind). */
  verbose?: boolean;
}

export interface StartOptions {
  userID?: string;
  metadata?: Record<string, string>;
}

export type StartResult =
  | { success: true; sessionID: string; sessionToken: string }
  | { success: false; reason: string };

export const DEFAULT_HEADER = "X-OpenReplay-SessionToken";
export const BAGGAGE_KEY = "openReplaySessionToken";
export type Win = Window & typeof globalThis;
