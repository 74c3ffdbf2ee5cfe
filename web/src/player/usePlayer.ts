// The session page's playback state: a progressive rrweb player, or a plain clock without a recording.
import { useCallback, useEffect, useRef, useState } from "react";
import { createPlayer, type PlayerAdapter } from "./adapter";
import {
  gapNotice,
  loadResultsInOrder,
  mainTab,
  seekStart,
  streamSegments,
  tabSegments,
  type Batch,
  type Gap,
  type Manifest,
  type RrwebEvent,
  type Segment,
} from "./segments";

export interface PlayerState {
  currentMs: number;
  playing: boolean;
  loading: boolean;
  firstFrame: boolean;
  loadedUntilMs: number;
  error: string | null;
  /** Non-blocking notice of the parts of the recording that could not be loaded. */
  notice: string | null;
  play: () => void;
  pause: () => void;
  seek: (ms: number) => void;
}

export function usePlayer(
  container: React.RefObject<HTMLDivElement | null>,
  manifest: Manifest | null | undefined,
  durationMs: number,
  initialMs: number,
  onBatch?: (batch: Batch) => void,
): PlayerState {
  const [currentMs, setCurrentMs] = useState(initialMs);
  const [playing, setPlaying] = useState(false);
  const [loading, setLoading] = useState(false);
  const [firstFrame, setFirstFrame] = useState(false);
  const [loadedUntilMs, setLoadedUntil] = useState(0);
  const [error, setError] = useState<string | null>(null);
  const [gaps, setGaps] = useState<Gap[]>([]);
  // Bumped when a seek needs another starting point (a full snapshot outside what is loaded).
  const [reload, setReload] = useState(0);
  const player = useRef<PlayerAdapter | null>(null);
  const base = useRef(0); // offset (from the recording's start) of the player's first event
  const pending = useRef<number | null>(initialMs || null);
  const wantPlay = useRef(false);
  const loaded = useRef(0);
  const clock = useRef({ ms: initialMs, startedAt: 0 });
  const segs = useRef<Segment[]>([]);
  const startIndex = useRef(0); // the segment the current load started from
  const nextIndex = useRef(0); // the next segment the current load will deliver
  const done = useRef(false); // the current load delivered all it could
  const missing = useRef(new Set<number>()); // seqs that failed to load
  const sent = useRef(new Set<number>()); // seqs already handed to onBatch (devtools: once each)
  const onBatchRef = useRef(onBatch);
  onBatchRef.current = onBatch;
  const hasRecording = Boolean(manifest && manifest.segments.length);

  const apply = useCallback((ms: number) => {
    const p = player.current;
    if (!p) return;
    const local = Math.max(0, ms - base.current);
    if (wantPlay.current) p.play(local);
    else p.pause(local);
    performance.mark("replaylink:seeked");
    if (container.current) container.current.dataset.seekedTo = String(Math.round(ms));
  }, [container]);

  // A new recording: forget what the previous one loaded.
  useEffect(() => {
    missing.current = new Set();
    sent.current = new Set();
    setGaps([]);
  }, [manifest]);

  // Load the recording progressively from the last full snapshot at or before the wanted position
  // (a seek target, or the start): the first segment builds the player, the rest are added.
  useEffect(() => {
    if (!manifest || !manifest.segments.length || !container.current) return;
    const tab = mainTab(manifest);
    if (!tab) return;
    const segments = tabSegments(manifest, tab);
    segs.current = segments;
    const root = container.current;
    const abort = new AbortController();
    const start = seekStart(segments, pending.current ?? clock.current.ms, missing.current);
    startIndex.current = Math.max(0, start);
    nextIndex.current = startIndex.current;
    done.current = false;
    loaded.current = 0;
    setLoading(true);
    setError(null);
    setFirstFrame(false);
    let first: RrwebEvent[] = [];
    let built = false;
    let delivered = 0;
    const deliver = (batch: Batch, seq: number | undefined) => {
      if (seq === undefined || sent.current.has(seq)) return;
      sent.current.add(seq);
      onBatchRef.current?.(batch);
    };
    const build = () => {
      player.current = createPlayer(root, first, () => setPlaying(false));
      built = true;
      setFirstFrame(true);
      performance.mark("replaylink:first-frame");
      root.dataset.firstFrame = "true";
      const target = pending.current ?? clock.current.ms;
      pending.current = null;
      if (target <= loaded.current) apply(target);
      else {
        pending.current = target;
        player.current.pause(0);
      }
    };
    const stream =
      start < 0
        ? Promise.resolve()
        : streamSegments(
            segments,
            start,
            {
              onBatch: (batch, index) => {
                nextIndex.current = index + 1;
                const seg = segments[index];
                deliver(batch, seg?.seq);
                if (seg) {
                  loaded.current = seg.offset_ms + (seg.last_ms - seg.first_ms);
                  setLoadedUntil(loaded.current);
                }
                if (!built) {
                  if (delivered === 0 && seg) base.current = seg.offset_ms;
                  delivered++;
                  first.push(...batch.events);
                  // A replay starts from Meta (4) + FullSnapshot (2).
                  if (first.some((e) => e.type === 2) && first.length >= 2) build();
                } else player.current?.addEvents(batch.events);
                if (built && pending.current !== null && pending.current <= loaded.current) {
                  const target = pending.current;
                  pending.current = null;
                  apply(target);
                }
              },
              onGap: (gap) => {
                missing.current.add(gap.seq);
                nextIndex.current = gap.resumeIndex >= 0 ? gap.resumeIndex : segments.length;
                setGaps((prev) => (prev.some((g) => g.seq === gap.seq) ? prev : [...prev, gap]));
                // Nothing built yet: what was gathered depends on the missing segment, start over after it.
                if (!built) {
                  first = [];
                  delivered = 0;
                }
              },
            },
            { signal: abort.signal, missing: missing.current },
          );
    void stream
      .then(() => {
        if (abort.signal.aborted) return;
        done.current = true;
        if (!built && first.length && first.some((e) => e.type === 2)) build();
        if (!built) {
          setError(
            missing.current.size
              ? "Part of this recording is missing and no later full snapshot exists: it cannot be played."
              : "The recording has no full snapshot: it cannot be played.",
          );
        }
        if (built && pending.current !== null) {
          const target = pending.current;
          pending.current = null;
          apply(target);
        }
        // The segments before the starting point still feed the console and network panels.
        const earlier = segments.slice(0, Math.max(0, start)).filter((s) => !sent.current.has(s.seq) && !missing.current.has(s.seq));
        if (earlier.length)
          return loadResultsInOrder(
            earlier,
            (result, i) => {
              if (result.ok) deliver(result.batch, earlier[i]?.seq);
            },
            { signal: abort.signal },
          );
      })
      .catch((e: unknown) => {
        if (!abort.signal.aborted) setError(e instanceof Error ? e.message : String(e));
      })
      .finally(() => {
        if (!abort.signal.aborted) setLoading(false);
      });
    return () => {
      abort.abort();
      player.current?.destroy();
      player.current = null;
      root.replaceChildren();
      delete root.dataset.firstFrame;
    };
  }, [manifest, container, apply, reload]);

  // The current time as the page shows it, 5 times a second while playing.
  useEffect(() => {
    if (!playing) return;
    const timer = window.setInterval(() => {
      if (player.current) {
        setCurrentMs(player.current.currentTime() + base.current);
      } else {
        const c = clock.current;
        const ms = Math.min(durationMs, c.ms + (performance.now() - c.startedAt));
        setCurrentMs(ms);
        if (ms >= durationMs) setPlaying(false);
      }
    }, 200);
    return () => window.clearInterval(timer);
  }, [playing, durationMs]);

  const seek = useCallback(
    (ms: number) => {
      const target = Math.max(0, Math.min(ms, Math.max(durationMs, 0)));
      setCurrentMs(target);
      clock.current = { ms: target, startedAt: performance.now() };
      if (!hasRecording) {
        if (container.current) container.current.dataset.seekedTo = String(Math.round(target));
        return;
      }
      const segments = segs.current;
      if (!segments.length) {
        pending.current = target; // the manifest is not there yet: its load starts from the target
        return;
      }
      if (player.current && target >= base.current && target <= loaded.current) {
        apply(target);
        return;
      }
      pending.current = target;
      // Where this target must start: a full snapshot the current load has not reached (or before
      // its start) means loading from there instead of streaming everything in between.
      const start = seekStart(segments, target, missing.current);
      const behind = target < base.current && start >= 0 && start < startIndex.current;
      const ahead = !done.current && start > nextIndex.current;
      if (behind || ahead) setReload((n) => n + 1);
      else if (player.current && done.current) {
        pending.current = null;
        apply(Math.max(target, base.current));
      }
    },
    [apply, durationMs, hasRecording, container],
  );
  const play = useCallback(() => {
    wantPlay.current = true;
    setPlaying(true);
    clock.current = { ms: currentMs >= durationMs ? 0 : currentMs, startedAt: performance.now() };
    if (player.current) player.current.play(Math.max(0, (currentMs >= durationMs ? 0 : currentMs) - base.current));
  }, [currentMs, durationMs]);
  const pause = useCallback(() => {
    wantPlay.current = false;
    setPlaying(false);
    if (player.current) {
      const now = player.current.currentTime();
      player.current.pause(now);
      setCurrentMs(now + base.current);
    }
  }, []);
  const notice = gaps.length ? gaps.map(gapNotice).join(" ") : null;
  return { currentMs, playing, loading, firstFrame, loadedUntilMs, error, notice, play, pause, seek };
}
