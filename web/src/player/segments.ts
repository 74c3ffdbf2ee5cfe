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

/** Index of the last segment with a full snapshot at or before ``offsetMs`` (where a seek starts). */
export function seekStart(segments: Segment[], offsetMs: number): number {
  let start = 0;
  segments.forEach((s, i) => {
    if (s.has_full_snapshot && s.offset_ms <= offsetMs) start = i;
  });
  return start;
}

export async function fetchBatch(url: string, signal?: AbortSignal): Promise<Batch> {
  const response = await fetch(url, { credentials: "same-origin", signal, headers: { Accept: "application/json" } });
  if (!response.ok) throw new Error(`Segment ${url.split("/").slice(-2).join("/")} answered ${response.status}`);
  const body = (await response.json()) as Partial<Batch>;
  return { tab: body.tab, seq: body.seq, events: Array.isArray(body.events) ? body.events : [], devtools: Array.isArray(body.devtools) ? body.devtools : [] };
}

/**
 * Fetch segments with at most ``concurrency`` requests in flight, handing each batch to
 * ``onBatch`` in seq order (the player needs events in order), as soon as its turn comes.
 */
export async function loadInOrder(
  segments: Segment[],
  onBatch: (batch: Batch, index: number) => void,
  options: { concurrency?: number; signal?: AbortSignal; fetcher?: (url: string, signal?: AbortSignal) => Promise<Batch> } = {},
): Promise<void> {
  const concurrency = options.concurrency ?? 4;
  const fetcher = options.fetcher ?? fetchBatch;
  const pending: Promise<Batch>[] = [];
  let next = 0;
  let delivered = 0;
  const launch = () => {
    while (next < segments.length && pending.length - delivered < concurrency) {
      const seg = segments[next];
      if (!seg) break;
      pending.push(fetcher(seg.url, options.signal));
      next++;
    }
  };
  launch();
  while (delivered < segments.length) {
    const batch = await pending[delivered];
    if (options.signal?.aborted) return;
    if (batch) onBatch(batch, delivered);
    delivered++;
    launch();
  }
}
