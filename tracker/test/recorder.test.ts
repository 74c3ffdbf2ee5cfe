// The coalescing of DOM changes (Recorder's mutationBatchMs) against a stand-in for rrweb's record(): rrweb's
// mutation observer does not run in happy-dom, so the stand-in does what rrweb 2.1.6 does with its mutation
// buffers (MutationBuffer.processMutations / freeze / unfreeze and record's wrappedEmit): changes are emitted
// at once unless frozen; any event other than a DOM change (a Meta, an input, a custom event) unfreezes them
// first, so what they held is emitted before it. The real rrweb is exercised by tests/browser and bench.tracker.
import { afterEach, describe, expect, it, vi } from "vitest";

interface Ev {
  type: number;
  timestamp: number;
  data: { source?: number; tag?: string; adds?: string[] };
}

const rr = vi.hoisted(() => {
  const state = {
    emit: null as ((e: unknown) => void) | null,
    frozen: false,
    held: [] as string[],
    options: {} as Record<string, unknown>,
  };
  const wrappedEmit = (e: { type: number; timestamp?: number; data: { source?: number } }) => {
    e.timestamp = Date.now();
    if (state.frozen && e.type !== 2 && !(e.type === 3 && e.data.source === 0)) {
      state.frozen = false;
      emitHeld();
    }
    state.emit?.(e);
  };
  const emitHeld = () => {
    if (state.frozen || state.held.length === 0) return;
    wrappedEmit({ type: 3, data: { source: 0, adds: state.held.splice(0) } as { source: number } });
  };
  const snapshot = () => {
    wrappedEmit({ type: 4, data: {} });
    wrappedEmit({ type: 2, data: {} });
  };
  const record = Object.assign(
    (options: Record<string, unknown>) => {
      state.options = options;
      state.emit = options.emit as (e: unknown) => void;
      snapshot();
      return () => {
        state.emit = null;
        state.frozen = false;
        state.held = [];
      };
    },
    {
      takeFullSnapshot: snapshot,
      freezePage: () => {
        state.frozen = true;
      },
      addCustomEvent: (tag: string, payload: unknown) => {
        if (!state.emit) throw new Error("please add custom event after start recording");
        wrappedEmit({ type: 5, data: { tag, payload } as { source?: number } });
      },
    },
  );
  /** the page changes the DOM (one MutationObserver callback) */
  const change = (what: string) => {
    state.held.push(what);
    emitHeld();
  };
  /** the person does something (rrweb emits an input event) */
  const input = () => wrappedEmit({ type: 3, data: { source: 5 } });
  return { state, record, change, input };
});

vi.mock("@rrweb/record", () => ({ record: rr.record }));

const { Recorder } = await import("../src/recorder");

function recorder(mutationBatchMs?: number) {
  const events: Ev[] = [];
  const r = new Recorder(window, {
    emit: (e) => events.push(e as Ev),
    maskAllInputs: true,
    obscureTextEmails: true,
    obscureTextNumbers: false,
    checkoutEveryMs: 600_000,
    mutationLimit: 10_000,
    mutationBatchMs,
  });
  r.start();
  const changes = () => events.filter((e) => e.type === 3 && e.data.source === 0).map((e) => e.data.adds!.join(" "));
  return { r, events, changes };
}

describe("Recorder's coalescing of DOM changes", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("records the first change at once and the next ones of its window as one event at the window's end", () => {
    vi.useFakeTimers();
    const { r, events, changes } = recorder(100);
    rr.change("a");
    expect(changes()).toEqual(["a"]);
    const opened = Date.now();
    vi.advanceTimersByTime(30);
    rr.change("b");
    vi.advanceTimersByTime(30);
    rr.change("c");
    expect(changes()).toEqual(["a"]);
    vi.advanceTimersByTime(40);
    expect(changes()).toEqual(["a", "b c"]);
    expect(events.at(-1)!.timestamp - opened).toBe(100);
    // that emit opened a window of its own; when it ends with nothing held, the next change goes at once
    vi.advanceTimersByTime(100);
    rr.change("d");
    expect(changes()).toEqual(["a", "b c", "d"]);
    expect(events.some((e) => e.type === 5)).toBe(false); // the flush marker is never recorded
    r.stop();
  });

  it("emits held changes before an interaction, a snapshot, on flush() and on stop()", () => {
    vi.useFakeTimers();
    const { r, events, changes } = recorder(60_000);
    rr.change("a");
    rr.change("b");
    rr.input();
    expect(events.slice(-2).map((e) => [e.type, e.data.source])).toEqual([
      [3, 0],
      [3, 5],
    ]); // the held change, then the input
    expect(changes()).toEqual(["a", "b"]);
    rr.change("c"); // held (the emit of b went on with the window)
    r.fullSnapshot();
    expect(events.slice(-3).map((e) => e.type)).toEqual([3, 4, 2]);
    rr.change("d");
    rr.change("e");
    expect(changes()).toEqual(["a", "b", "c"]);
    r.flush();
    expect(changes()).toEqual(["a", "b", "c", "d e"]);
    rr.change("f"); // held: the flushed changes opened a window
    expect(changes()).toEqual(["a", "b", "c", "d e"]);
    r.stop();
    expect(changes()).toEqual(["a", "b", "c", "d e", "f"]);
    expect(events.some((e) => e.type === 5)).toBe(false);
  });

  it("records every change on its own with 0 and leaves rrweb unfrozen", () => {
    const { r, changes } = recorder(0);
    rr.change("a");
    rr.change("b");
    expect(changes()).toEqual(["a", "b"]);
    expect(rr.state.frozen).toBe(false);
    r.stop();
  });

  it("emits what is held before a mutation storm stops rrweb, and records again after its full snapshot", async () => {
    const { r, events, changes } = recorder(60_000);
    rr.change("a");
    rr.change("held when the storm comes");
    (r as unknown as { opts: { mutationLimit: number } }).opts.mutationLimit = 10;
    for (let i = 0; i < 20; i++) document.body.appendChild(document.createElement("u"));
    for (let i = 0; i < 200 && r.recording; i++) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(r.recording).toBe(false);
    expect(changes()).toEqual(["a", "held when the storm comes"]); // only the storm's own changes are dropped
    expect(events.at(-1)!.data.tag).toBe("replaylink.mutation-storm");
    for (let i = 0; i < 400 && !r.recording; i++) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(r.recording).toBe(true);
    expect(events.at(-1)!.type).toBe(2);
    rr.change("b"); // a new recording: nothing frozen
    expect(changes()).toEqual(["a", "held when the storm comes", "b"]);
    r.stop();
  });
});
