// The session page: the replay with its marker lane, the current time, and the side panel.
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { Link, useParams, useSearchParams } from "react-router";
import { useQuery } from "@tanstack/react-query";
import { api, ApiError, type BackendLogs, type SessionDetail } from "../api";
import { useProjectId } from "../App";
import { duration, when } from "../format";
import { MarkerLane } from "../components/MarkerLane";
import { markersFromBackend, markersFromTimeline, seekTarget, type Marker, type TimelineItem } from "../components/markers";
import { SidePanel, type ConsoleLine, type NetworkLine } from "../components/SidePanel";
import { useProviderLabel } from "../components/ProviderNames";
import { ErrorBox } from "../components/EmptyState";
import { CopyButton } from "../components/CopyButton";
import { Untrusted } from "../components/Untrusted";
import { usePlayer } from "../player/usePlayer";
import type { Batch, Manifest } from "../player/segments";

async function orNull<T>(promise: Promise<T>): Promise<T | null> {
  try {
    return await promise;
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) return null;
    throw e;
  }
}

export function SessionPage() {
  const projectId = useProjectId();
  const { sessionId = "" } = useParams();
  const [params, setParams] = useSearchParams();
  const base = `/api/v1/projects/${projectId}/sessions/${encodeURIComponent(sessionId)}`;
  const detail = useQuery({ queryKey: ["session", projectId, sessionId], queryFn: () => api<SessionDetail>(base, { query: { events_limit: 1000 } }) });
  const manifest = useQuery({ queryKey: ["manifest", projectId, sessionId], queryFn: () => orNull(api<Manifest>(`${base}/replay`)) });
  const timeline = useQuery({
    queryKey: ["timeline", projectId, sessionId],
    queryFn: () => orNull(api<{ events: TimelineItem[]; truncated: boolean }>(`${base}/timeline`)),
  });
  if (detail.error) return <ErrorBox error={detail.error} />;
  if (!detail.data || manifest.isLoading || timeline.isLoading) return <p className="loading">Loading the session…</p>;
  return (
    <SessionView
      key={sessionId}
      projectId={projectId}
      session={detail.data}
      manifest={manifest.data ?? null}
      timeline={timeline.data?.events ?? null}
      initialT={params.get("t")}
      errorFingerprint={params.get("error")}
      onTime={(ms) => {
        const next = new URLSearchParams(params);
        next.set("t", String(Math.round(ms)));
        next.delete("error");
        setParams(next, { replace: true });
      }}
      loadLive={() => api<BackendLogs>(`${base}/backend-logs`)}
      problem={manifest.error ?? timeline.error}
    />
  );
}

/** The page's head: who, when, where (the user id and the page URL are the tracked site's text). */
export function SessionHeading({ projectId, session }: { projectId: number; session: SessionDetail }) {
  return (
    <div className="session-head">
      <p>
        <Link to={`/projects/${projectId}/sessions`}>← Sessions</Link>
      </p>
      <h1>
        Session of {session.user_id ? <Untrusted text={session.user_id} max={60} /> : "an anonymous user"}{" "}
        <span className="muted">{when(session.started_at)}</span>
      </h1>
      <p className="muted clip">
        <Untrusted text={session.page_url} />
      </p>
      <p>
        <CopyButton text={window.location.href} label="Copy link at this time" />{" "}
        {session.token ? <CopyButton text={session.token} label="Copy session token" /> : null}
      </p>
    </div>
  );
}

function SessionView({
  projectId,
  session,
  manifest,
  timeline,
  initialT,
  errorFingerprint,
  onTime,
  loadLive,
  problem,
}: {
  projectId: number;
  session: SessionDetail;
  manifest: Manifest | null;
  timeline: TimelineItem[] | null;
  initialT: string | null;
  errorFingerprint: string | null;
  onTime: (ms: number) => void;
  loadLive: () => Promise<BackendLogs>;
  problem: unknown;
}) {
  const label = useProviderLabel();
  const hasRecording = Boolean(manifest?.segments.length);
  const markers: Marker[] = useMemo(() => {
    if (!timeline) return markersFromBackend(session.events);
    const all = markersFromTimeline(timeline);
    // Without a recording everything is "outside" it: flag only what lies outside the session.
    return hasRecording ? all : all.map((m) => ({ ...m, outside: Boolean((m.backend as { outside_session?: boolean } | null)?.outside_session) }));
  }, [timeline, session.events, hasRecording]);
  const durationMs = Math.max(hasRecording && manifest ? manifest.duration_ms : session.duration_ms ?? 0, 1000);
  const initialMs = useMemo(() => {
    if (errorFingerprint) {
      const m = markers.find((x) => x.kind === "backend" && x.fingerprint === errorFingerprint);
      if (m) return seekTarget(m.offsetMs);
    }
    const t = Number(initialT);
    return initialT !== null && Number.isFinite(t) && t >= 0 ? t : 0;
  }, [errorFingerprint, initialT, markers]);
  const [consoleLines, setConsole] = useState<ConsoleLine[]>([]);
  const [network, setNetwork] = useState<NetworkLine[]>([]);
  const origin = manifest?.recording_started_at ? new Date(manifest.recording_started_at).getTime() : new Date(session.started_at).getTime();
  const onBatch = useCallback(
    (batch: Batch) => {
      const c: ConsoleLine[] = [];
      const n: NetworkLine[] = [];
      for (const d of batch.devtools) {
        const offsetMs = Number(d.ts) - origin;
        if (d.type === "console") c.push({ offsetMs, level: String(d.level ?? "log"), message: String(d.message ?? "") });
        else if (d.type === "network")
          n.push({
            offsetMs,
            method: String(d.method ?? "GET"),
            url: String(d.url ?? ""),
            status: typeof d.status === "number" ? d.status : null,
            durationMs: typeof d.duration === "number" ? d.duration : null,
            failed: Boolean(d.failed),
          });
      }
      if (c.length) setConsole((prev) => [...prev, ...c].sort((a, b) => a.offsetMs - b.offsetMs));
      if (n.length) setNetwork((prev) => [...prev, ...n].sort((a, b) => a.offsetMs - b.offsetMs));
    },
    [origin],
  );
  const stage = useRef<HTMLDivElement | null>(null);
  const player = usePlayer(stage, manifest, durationMs, initialMs, onBatch);
  const seekTo = (ms: number) => {
    player.seek(ms);
    onTime(ms);
  };
  useEffect(() => {
    if (initialMs) player.seek(initialMs);
    // only on the first render of this session
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);
  const backend = markers.filter((m) => m.kind === "backend");
  // Without recorded devtools (no recording yet), the timeline's marked events still fill the tabs.
  const consoleShown = consoleLines.length
    ? consoleLines
    : markers.filter((m) => m.kind === "console_error").map((m) => ({ offsetMs: m.offsetMs, level: m.level ?? "error", message: m.message ?? m.title }));
  const networkShown = network.length
    ? network
    : markers
        .filter((m) => m.kind === "failed_request")
        .map((m) => ({ offsetMs: m.offsetMs, method: "", url: m.url ?? m.title, status: m.status ?? null, durationMs: null, failed: true }));
  return (
    <div className="session-page">
      <SessionHeading projectId={projectId} session={session} />
      <ErrorBox error={problem ?? player.error} />
      <div className="session-body">
        <section className="player" aria-label="Replay">
          <div className="stage" ref={stage} data-testid="stage">
            {!hasRecording ? (
              <p className="no-recording">
                No recording for this session{manifest ? "" : " (the server keeps none)"}: its errors are shown on the timeline below.
              </p>
            ) : null}
          </div>
          {hasRecording && !player.firstFrame && !player.error ? <p className="loading">Loading the recording…</p> : null}
          {player.notice ? (
            <p className="notice" role="status" data-testid="replay-gap">
              {player.notice}
            </p>
          ) : null}
          <MarkerLane
            markers={markers}
            durationMs={durationMs}
            currentMs={player.currentMs}
            providerLabel={label}
            onSeekMarker={(m) => seekTo(seekTarget(m.offsetMs))}
            onScrub={(ms) => seekTo(ms)}
          />
          <div className="controls">
            {player.playing ? (
              <button type="button" onClick={() => { player.pause(); onTime(player.currentMs); }}>
                Pause
              </button>
            ) : (
              <button type="button" onClick={player.play}>
                Play
              </button>
            )}
            <button type="button" className="secondary" onClick={() => seekTo(player.currentMs - 5000)} aria-label="Back 5 seconds">
              −5 s
            </button>
            <button type="button" className="secondary" onClick={() => seekTo(player.currentMs + 5000)} aria-label="Forward 5 seconds">
              +5 s
            </button>
            <span className="clock" data-testid="current-time" data-ms={Math.round(player.currentMs)} aria-live="off">
              {duration(player.currentMs)} / {duration(durationMs)}
            </span>
            <span className="legend" aria-hidden="true">
              <span className="dot kind-js_error" /> JS error <span className="dot kind-failed_request" /> failed request{" "}
              <span className="dot kind-console_error" /> console error <span className="dot kind-backend" /> backend error
            </span>
          </div>
        </section>
        <SidePanel
          session={session}
          backend={backend}
          consoleLines={consoleShown}
          network={networkShown}
          currentMs={player.currentMs}
          onSeek={(ms) => seekTo(seekTarget(ms))}
          providerLabel={label}
          loadLive={loadLive}
        />
      </div>
    </div>
  );
}
