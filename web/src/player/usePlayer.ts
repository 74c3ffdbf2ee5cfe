// The session page's playback state: a progressive rrweb player, or a plain clock without a recording.
import { useCallback, useEffect, useRef, useState } from "react";
import { createPlayer, type PlayerAdapter } from "./adapter";
import { loadInOrder, mainTab, tabSegments, type Batch, type Manifest, type RrwebEvent } from "./segments";

export interface PlayerState {
  currentMs: number;
  playing: boolean;
  loading: boolean;
  firstFrame: boolean;
  loadedUntilMs: number;
  error: string | null;
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
  const player = useRef<PlayerAdapter | null>(null);
  const base = useRef(0); // offset (from the recording's start) of the player's first event
  const pending = useRef<number | null>(initialMs || null);
  const wantPlay = useRef(false);
  const loaded = useRef(0);
  const clock = useRef({ ms: initialMs, startedAt: 0 });
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

  // Load the recording progressively: the first segment builds the player, the rest are added.
  useEffect(() => {
    if (!manifest || !manifest.segments.length || !container.current) return;
    const tab = mainTab(manifest);
    if (!tab) return;
    const segments = tabSegments(manifest, tab);
    const root = container.current;
    const abort = new AbortController();
    setLoading(true);
    setError(null);
    const first: RrwebEvent[] = [];
    let built = false;
    const build = () => {
      player.current = createPlayer(root, first, () => setPlaying(false));
      built = true;
      setFirstFrame(true);
      performance.mark("replaylink:first-frame");
      root.dataset.firstFrame = "true";
      const target = pending.current ?? 0;
      if (target <= loaded.current) {
        pending.current = null;
        apply(target);
      } else player.current.pause(0);
    };
    void loadInOrder(
      segments,
      (batch, index) => {
        onBatchRef.current?.(batch);
        const seg = segments[index];
        if (seg) {
          loaded.current = seg.offset_ms + (seg.last_ms - seg.first_ms);
          setLoadedUntil(loaded.current);
        }
        if (!built) {
          if (index === 0 && seg) base.current = seg.offset_ms;
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
      { signal: abort.signal },
    )
      .then(() => {
        if (!built && first.length) build();
        if (!built) setError("The recording has no full snapshot: it cannot be played.");
        if (pending.current !== null) {
          const target = pending.current;
          pending.current = null;
          apply(target);
        }
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
  }, [manifest, container, apply]);

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
      if (player.current && target <= loaded.current) apply(target);
      else pending.current = target;
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
  return { currentMs, playing, loading, firstFrame, loadedUntilMs, error, play, pause, seek };
}
