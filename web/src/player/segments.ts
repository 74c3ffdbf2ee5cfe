// Progressive loading of a recording: the manifest, then its segments in playback order.

export interface Segment {
  tab: string;
  seq: number;
  first_ms: number;
  last_ms: number;
  offset_ms: number;
  bytes: number;
  events: number;
  has_full_snapshot: boolean;
  url: string;
}

export interface Manifest {
  session_id: string;
  recording_started_at: string | null;
  recording_ended_at: string | null;
  duration_ms: number;
  tabs: string[];
  bytes: number;
  segments: Segment[];
}

export interface RrwebEvent {
  type: number;
  timestamp: number;
  data?: unknown;
  [key: string]: unknown;
}

export interface DevtoolsItem {
  type: string;
  ts: number;
  [key: string]: unknown;
}

export interface Batch {
  tab?: string;
  seq?: number;
  events: RrwebEvent[];
  devtools: DevtoolsItem[];
}

/** The tab to play: the one with the most recorded events (a session usually has one). */
export function mainTab(manifest: Manifest): string | null {
  const totals = new Map<string, number>();
  for (const s of manifest.segments) totals.set(s.tab, (totals.get(s.tab) ?? 0) + s.events);
  let best: string | null = null;
  for (const [tab, n] of totals) if (best === null || n > (totals.get(best) ?? 0)) best = tab;
  return best;
}

/** The segments of ``tab`` in seq order. */
export function tabSegments(manifest: Manifest, tab: string): Segment[] {
  return manifest.segments.filter((s) => s.tab === tab).sort((a, b) => a.seq - b.seq);
}

/**
 * Where a seek to ``offsetMs`` starts loading: the index of the last segment with a full snapshot
 * at or before the target (a replay can only start at a full snapshot). Segments whose seq is in
 * ``missing`` (known to fail) are not candidates. Without any candidate at or before the target,
 * the first usable full snapshot after it; -1 when there is none at all.
 */
export function seekStart(segments: Segment[], offsetMs: number, missing: ReadonlySet<number> = new Set()): number {
  let start = -1;
  segments.forEach((s, i) => {
    if (s.has_full_snapshot && !missing.has(s.seq) && s.offset_ms <= offsetMs) start = i;
  });
  if (start >= 0) return start;
  return segments.findIndex((s) => s.has_full_snapshot && !missing.has(s.seq));
}

/** Index of the first segment after ``index`` with a full snapshot (where playback resumes after a gap), or -1. */
export function nextFullSnapshot(segments: Segment[], index: number, missing: ReadonlySet<number> = new Set()): number {
  for (let i = index + 1; i < segments.length; i++) {
    const s = segments[i];
    if (s && s.has_full_snapshot && !missing.has(s.seq)) return i;
  }
  return -1;
}

/** A part of the recording that cannot be played: a segment failed, playback resumes at ``resumeIndex``. */
export interface Gap {
  /** Seq of the segment that failed. */
  seq: number;
  /** Index (in the tab's segments) of the failed segment. */
  index: number;
  fromMs: number;
  /** Offset where playback resumes; null when nothing after the gap can be played. */
  toMs: number | null;
  resumeIndex: number;
  error: string;
}

function seconds(ms: number): string {
  const s = ms / 1000;
  return Number.isInteger(s) ? String(s) : s.toFixed(1);
}

/** The notice shown for a gap. */
export function gapNotice(gap: Gap): string {
  if (gap.toMs === null) return `Part of this recording is missing (from ${seconds(gap.fromMs)} s): the rest cannot be played.`;
  return `Part of this recording is missing (${seconds(gap.fromMs)}–${seconds(gap.toMs)} s); playing from ${seconds(gap.toMs)} s.`;
}

export async function fetchBatch(url: string, signal?: AbortSignal): Promise<Batch> {
  const response = await fetch(url, { credentials: "same-origin", signal, headers: { Accept: "application/json" } });
  if (!response.ok) throw new Error(`Segment ${url.split("/").slice(-2).join("/")} answered ${response.status}`);
  const body = (await response.json()) as Partial<Batch>;
  return { tab: body.tab, seq: body.seq, events: Array.isArray(body.events) ? body.events : [], devtools: Array.isArray(body.devtools) ? body.devtools : [] };
}

export type SegmentResult = { ok: true; batch: Batch } | { ok: false; error: Error };

type Fetcher = (url: string, signal?: AbortSignal) => Promise<Batch>;

/**
 * Fetch segments with at most ``concurrency`` requests in flight, handing each result to
 * ``onResult`` in seq order (the player needs events in order), as soon as its turn comes.
 * ``onResult`` answers false to stop. A failed fetch never rejects the whole load.
 */
export async function loadResultsInOrder(
  segments: Segment[],
  onResult: (result: SegmentResult, index: number) => boolean | void,
  options: { concurrency?: number; signal?: AbortSignal; fetcher?: Fetcher } = {},
): Promise<void> {
  const concurrency = options.concurrency ?? 4;
  const fetcher = options.fetcher ?? fetchBatch;
  const pending: Promise<SegmentResult>[] = [];
  let next = 0;
  let delivered = 0;
  const launch = () => {
    while (next < segments.length && pending.length - delivered < concurrency) {
      const seg = segments[next];
      if (!seg) break;
      pending.push(
        fetcher(seg.url, options.signal).then(
          (batch): SegmentResult => ({ ok: true, batch }),
          (e: unknown): SegmentResult => ({ ok: false, error: e instanceof Error ? e : new Error(String(e)) }),
        ),
      );
      next++;
    }
  };
  launch();
  while (delivered < segments.length) {
    const result = await pending[delivered];
    if (options.signal?.aborted) return;
    if (result && onResult(result, delivered) === false) return;
    delivered++;
    launch();
  }
}

/** As ``loadResultsInOrder``, but only batches; the first failure rejects. */
export async function loadInOrder(
  segments: Segment[],
  onBatch: (batch: Batch, index: number) => void,
  options: { concurrency?: number; signal?: AbortSignal; fetcher?: Fetcher } = {},
): Promise<void> {
  let failure: Error | null = null;
  await loadResultsInOrder(
    segments,
    (result, index) => {
      if (!result.ok) {
        failure = result.error;
        return false;
      }
      onBatch(result.batch, index);
      return true;
    },
    options,
  );
  if (failure) throw failure;
}

/**
 * Stream a tab's segments for playback from ``start``: each playable batch goes to ``onBatch``
 * (with its index in ``segments``); a failed segment (a 404, a network error) reports a gap and
 * playback resumes at the next segment with a full snapshot (the segments between depend on the
 * missing one and are skipped). Without a later full snapshot, the gap ends the stream.
 */
export async function streamSegments(
  segments: Segment[],
  start: number,
  handlers: { onBatch: (batch: Batch, index: number) => void; onGap: (gap: Gap) => void },
  options: { concurrency?: number; signal?: AbortSignal; fetcher?: Fetcher; missing?: ReadonlySet<number> } = {},
): Promise<void> {
  const from = Math.max(0, start);
  const part = segments.slice(from);
  const missing = new Set(options.missing ?? []);
  let resumeAt = from; // absolute index: batches before it are skipped
  await loadResultsInOrder(
    part,
    (result, rel) => {
      const index = from + rel;
      if (index < resumeAt) return true;
      const seg = segments[index];
      if (!seg) return true;
      if (result.ok) {
        handlers.onBatch(result.batch, index);
        return true;
      }
      missing.add(seg.seq);
      const resume = nextFullSnapshot(segments, index, missing);
      handlers.onGap({
        seq: seg.seq,
        index,
        fromMs: seg.offset_ms,
        toMs: resume >= 0 ? (segments[resume]?.offset_ms ?? null) : null,
        resumeIndex: resume,
        error: result.error.message,
      });
      if (resume < 0) return false;
      resumeAt = resume;
      return true;
    },
    options,
  );
}
