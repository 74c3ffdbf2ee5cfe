/** rrweb recording with private defaults, a checkout every few minutes, a mutation-storm guard and DOM changes
 * coalesced over a short window. */

import { record } from "@rrweb/record";
import { obscureEmails, obscureNumbers } from "./redact";

/** The rrweb event shape the tracker touches (the rest passes through untouched). */
export interface RrwebEvent {
  type: number;
  timestamp: number;
  data: unknown;
}

export const EventType = { FullSnapshot: 2, IncrementalSnapshot: 3, Meta: 4, Custom: 5 } as const;
/** Incremental sources that mean a person did something (for the idle timeout). */
const USER_SOURCES = new Set([1, 2, 3, 5, 6]); // mousemove, mouse interaction, scroll, input, touchmove

export function isUserActivity(event: RrwebEvent): boolean {
  if (event.type !== EventType.IncrementalSnapshot) return false;
  const source = (event.data as { source?: number } | null)?.source;
  return source !== undefined && USER_SOURCES.has(source);
}

export interface RecorderOptions {
  emit(event: RrwebEvent): void;
  maskAllInputs: boolean;
  obscureTextEmails: boolean;
  obscureTextNumbers: boolean;
  maskTextSelector?: string;
  blockSelector?: string;
  checkoutEveryMs: number;
  mutationLimit: number;
  /** After a DOM-change event, hold further changes this long and record them as one event (0: each on its own). */
  mutationBatchMs?: number;
}

export const STORM_TAG = "replaylink.mutation-storm";
/** marks recorded data the tracker had to drop (`payload.dropped`: why) */
export const DROP_TAG = "replaylink.dropped";
const MASKED = ".rr-mask, [data-openreplay-masked]";
const BLOCKED = "[data-openreplay-hidden]";
const QUIET_MS = 1000;
/** a custom event only sent to make rrweb emit the changes it holds (never recorded) */
const FLUSH_TAG = "replaylink.flush";
const MUTATION = 0; // rrweb's IncrementalSource.Mutation

interface RecordFn {
  (options: Record<string, unknown>): (() => void) | undefined;
  takeFullSnapshot(isCheckout?: boolean): void;
  freezePage(): void;
  addCustomEvent(tag: string, payload: unknown): void;
}

const rrwebRecord = record as unknown as RecordFn;

export class Recorder {
  private stopRecord: (() => void) | undefined;
  private observer: MutationObserver | undefined;
  private paused = false;
  private lastBurst = 0;
  private resumeTimer: ReturnType<typeof setTimeout> | undefined;
  private batchTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly maskSelector: string;

  constructor(
    private readonly win: Window,
    private readonly opts: RecorderOptions,
  ) {
    this.maskSelector = opts.maskTextSelector ? `${MASKED}, ${opts.maskTextSelector}` : MASKED;
  }

  get recording(): boolean {
    return this.stopRecord !== undefined;
  }

  /** Text as recorded: fully masked inside masked elements, else emails (and numbers, if asked) obscured. */
  maskText = (text: string, element: HTMLElement | null): string => {
    if (element && typeof element.closest === "function" && element.closest(this.maskSelector)) {
      return text.replace(/\S/g, "*");
    }
    let out = this.opts.obscureTextEmails ? obscureEmails(text) : text;
    if (this.opts.obscureTextNumbers) out = obscureNumbers(out);
    return out;
  };

  start(): void {
    if (this.stopRecord) return;
    this.watchStorms();
    this.begin();
  }

  stop(): void {
    this.flush();
    if (this.resumeTimer !== undefined) clearTimeout(this.resumeTimer);
    this.resumeTimer = undefined;
    this.observer?.disconnect();
    this.observer = undefined;
    this.paused = false;
    this.end();
  }

  /** A new full snapshot now (after dropped data, a new session, a restore from the back/forward cache). */
  fullSnapshot(): void {
    if (!this.stopRecord) return;
    try {
      rrwebRecord.takeFullSnapshot(true);
    } catch {
      /* not recording yet (rrweb waits for the load event) */
    }
  }

  /** Emits the DOM changes held back by the coalescing window now (before the page hides or recording stops). */
  flush(): void {
    if (this.batchTimer === undefined) return;
    clearTimeout(this.batchTimer);
    this.batchTimer = undefined;
    if (!this.stopRecord) return;
    try {
      // rrweb emits what its frozen mutation buffers hold before any other event, then this one (dropped in onEvent)
      rrwebRecord.addCustomEvent(FLUSH_TAG, null);
    } catch {
      /* not recording */
    }
  }

  /** rrweb's events on their way out. A DOM-change event opens a coalescing window: rrweb's mutation buffers are
   * frozen (`freezePage`: it still processes each batch of mutations, but emits their sum only when unfrozen) until
   * the window ends or rrweb emits any other event (input, scroll, a snapshot's Meta...), which unfreezes them
   * first, so the order of changes and interactions is kept. */
  private onEvent = (event: RrwebEvent): void => {
    if (event.type === EventType.Custom && (event.data as { tag?: unknown } | null)?.tag === FLUSH_TAG) return;
    this.opts.emit(event);
    const ms = this.opts.mutationBatchMs ?? 0;
    if (ms > 0 && event.type === EventType.IncrementalSnapshot && (event.data as { source?: number }).source === MUTATION) {
      rrwebRecord.freezePage();
      this.batchTimer ??= setTimeout(() => this.flush(), ms);
    }
  };

  private begin(): void {
    const needsTextHook = this.opts.obscureTextEmails || this.opts.obscureTextNumbers;
    const stop = rrwebRecord({
      emit: this.onEvent,
      maskAllInputs: this.opts.maskAllInputs,
      maskInputOptions: { password: true },
      maskTextClass: "rr-mask",
      // with a text hook every text node goes through maskText, which masks the masked ones fully
      maskTextSelector: needsTextHook ? "*" : this.maskSelector.replace(".rr-mask, ", ""),
      maskTextFn: this.maskText,
      blockClass: "rr-block",
      blockSelector: this.opts.blockSelector ? `${BLOCKED}, ${this.opts.blockSelector}` : BLOCKED,
      ignoreClass: "rr-ignore",
      checkoutEveryNms: this.opts.checkoutEveryMs,
      sampling: { mousemove: 50, scroll: 150, media: 800, input: "last" },
      slimDOMOptions: { script: true, comment: true, headFavicon: true, headMetaVerification: true },
      inlineStylesheet: true,
      recordCanvas: false,
      collectFonts: false,
      errorHandler: () => true,
    });
    this.stopRecord = stop ?? (() => undefined);
  }

  private end(): void {
    if (this.batchTimer !== undefined) clearTimeout(this.batchTimer);
    this.batchTimer = undefined;
    const stop = this.stopRecord;
    this.stopRecord = undefined;
    try {
      stop?.();
    } catch {
      /* already torn down */
    }
  }

  /** Our own observer, created before rrweb's so it hears each batch first: above the limit it stops rrweb
   * (whose pending records are dropped with its observer), marks the gap, and resumes with a full snapshot
   * once the page has been quiet for a second. */
  private watchStorms(): void {
    const MO = (this.win as Window & { MutationObserver?: typeof MutationObserver }).MutationObserver;
    if (!MO || this.observer) return;
    this.observer = new MO((records) => {
      const n = records.length;
      if (n > this.opts.mutationLimit / 10) this.lastBurst = Date.now();
      if (this.paused || n <= this.opts.mutationLimit) return;
      this.paused = true;
      this.flush(); // what the window held came before the storm
      this.end();
      this.opts.emit({
        type: EventType.Custom,
        timestamp: Date.now(),
        data: { tag: STORM_TAG, payload: { mutations: n, paused: true } },
      });
      this.scheduleResume();
    });
    this.observer.observe(this.win.document, { childList: true, subtree: true, attributes: true, characterData: true });
  }

  private scheduleResume(): void {
    this.resumeTimer = setTimeout(() => {
      this.resumeTimer = undefined;
      if (!this.paused) return;
      if (Date.now() - this.lastBurst < QUIET_MS) {
        this.scheduleResume();
        return;
      }
      this.paused = false;
      this.begin(); // Meta + FullSnapshot
    }, QUIET_MS);
  }
}
