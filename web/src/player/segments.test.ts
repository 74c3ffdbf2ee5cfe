import { describe, expect, it } from "vitest";
import { gapNotice, loadInOrder, seekStart, streamSegments, type Batch, type Gap, type Segment } from "./segments";

function seg(seq: number, offset: number, full: boolean): Segment {
  return {
    tab: "t1",
    seq,
    first_ms: 1_000_000 + offset,
    last_ms: 1_000_000 + offset + 900,
    offset_ms: offset,
    bytes: 10,
    events: 3,
    has_full_snapshot: full,
    url: `/api/v1/projects/p/sessions/s/replay/t1/${seq}`,
  };
}

// seq 0 full @0, 1 @1000, 2 full @2000, 3 @3000, 4 full @4000, 5 @5000
const SEGS = [seg(0, 0, true), seg(1, 1000, false), seg(2, 2000, true), seg(3, 3000, false), seg(4, 4000, true), seg(5, 5000, false)];

function fetcherMissing(missing: number[]) {
  const asked: number[] = [];
  const fetcher = async (url: string): Promise<Batch> => {
    const seq = Number(url.split("/").pop());
    asked.push(seq);
    if (missing.includes(seq)) throw new Error(`Segment t1/${seq} answered 404`);
    return { tab: "t1", seq, events: [{ type: 3, timestamp: seq }], devtools: [] };
  };
  return { fetcher, asked };
}

async function stream(missing: number[], start = 0) {
  const { fetcher, asked } = fetcherMissing(missing);
  const played: number[] = [];
  const gaps: Gap[] = [];
  await streamSegments(SEGS, start, { onBatch: (b) => played.push(b.seq ?? -1), onGap: (g) => gaps.push(g) }, { fetcher });
  return { played, gaps, asked };
}

describe("seekStart", () => {
  it("starts a seek at the last full snapshot at or before the target", () => {
    expect(seekStart(SEGS, 0)).toBe(0);
    expect(seekStart(SEGS, 1500)).toBe(0);
    expect(seekStart(SEGS, 2000)).toBe(2);
    expect(seekStart(SEGS, 3000)).toBe(2);
    expect(seekStart(SEGS, 4999)).toBe(4);
    expect(seekStart(SEGS, 99_000)).toBe(4);
  });

  it("skips segments known to be missing", () => {
    expect(seekStart(SEGS, 3000, new Set([2]))).toBe(0);
    expect(seekStart(SEGS, 500, new Set([0]))).toBe(2);
    expect(seekStart(SEGS, 3000, new Set([0, 2, 4]))).toBe(-1);
  });

  it("starts at the first full snapshot when none is at or before the target", () => {
    const segs = [seg(0, 0, false), seg(1, 1000, false), seg(2, 2000, true)];
    expect(seekStart(segs, 500)).toBe(2);
    expect(seekStart([seg(0, 0, false)], 500)).toBe(-1);
  });
});

describe("streamSegments", () => {
  it("streams from the seek start, not from segment 0", async () => {
    const { played, asked } = await stream([], seekStart(SEGS, 3000));
    expect(played).toEqual([2, 3, 4, 5]);
    expect(asked).not.toContain(0);
  });

  it("a missing first segment: playback starts at the next full snapshot", async () => {
    const { played, gaps } = await stream([0]);
    expect(played).toEqual([2, 3, 4, 5]);
    expect(gaps).toHaveLength(1);
    expect(gaps[0]).toMatchObject({ seq: 0, fromMs: 0, toMs: 2000, resumeIndex: 2 });
    expect(gapNotice(gaps[0] as Gap)).toBe("Part of this recording is missing (0–2 s); playing from 2 s.");
  });

  it("a missing middle segment: plays before it, resumes at the next full snapshot", async () => {
    const { played, gaps } = await stream([1]);
    expect(played).toEqual([0, 2, 3, 4, 5]);
    expect(gaps.map((g) => [g.seq, g.fromMs, g.toMs])).toEqual([[1, 1000, 2000]]);

    const later = await stream([3]);
    expect(later.played).toEqual([0, 1, 2, 4, 5]);
    expect(later.gaps.map((g) => [g.seq, g.toMs])).toEqual([[3, 4000]]);
  });

  it("a missing full-snapshot segment skips its dependants", async () => {
    const { played, gaps } = await stream([2]);
    expect(played).toEqual([0, 1, 4, 5]);
    expect(gaps.map((g) => [g.seq, g.fromMs, g.toMs])).toEqual([[2, 2000, 4000]]);
  });

  it("without a later full snapshot, says the rest cannot be played and stops", async () => {
    const { played, gaps } = await stream([4]);
    expect(played).toEqual([0, 1, 2, 3]);
    expect(gaps).toHaveLength(1);
    expect(gaps[0]?.toMs).toBeNull();
    expect(gapNotice(gaps[0] as Gap)).toBe("Part of this recording is missing (from 4 s): the rest cannot be played.");
  });

  it("several gaps are each reported", async () => {
    const { played, gaps } = await stream([0, 3]);
    expect(played).toEqual([2, 4, 5]);
    expect(gaps.map((g) => g.seq)).toEqual([0, 3]);
  });
});

describe("loadInOrder", () => {
  it("delivers in order and rejects on a failure", async () => {
    const { fetcher } = fetcherMissing([]);
    const seen: number[] = [];
    await loadInOrder(SEGS, (b) => seen.push(b.seq ?? -1), { fetcher, concurrency: 2 });
    expect(seen).toEqual([0, 1, 2, 3, 4, 5]);
    await expect(loadInOrder(SEGS, () => undefined, { fetcher: fetcherMissing([1]).fetcher })).rejects.toThrow("404");
  });
});
