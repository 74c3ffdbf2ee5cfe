// The session page's side panel: Backend, Console, Network, Metadata. Everything is rendered as text,
// and every text of the tracked site or of a log provider through <Untrusted> (isolated, controls shown).
import { useEffect, useRef, useState, type KeyboardEvent } from "react";
import type { BackendLogs, SessionDetail, TimelineEvent } from "../api";
import { duration, revealBidi, safeHttpUrl, truncate, when } from "../format";
import type { Marker } from "./markers";
import { CopyButton } from "./CopyButton";
import { Untrusted } from "./Untrusted";

export interface ConsoleLine {
  offsetMs: number;
  level: string;
  message: string;
}
export interface NetworkLine {
  offsetMs: number;
  method: string;
  url: string;
  status: number | null;
  durationMs: number | null;
  failed: boolean;
}

const TABS = ["Backend", "Console", "Network", "Metadata"] as const;
type Tab = (typeof TABS)[number];

interface Props {
  session: SessionDetail;
  backend: Marker[];
  consoleLines: ConsoleLine[];
  network: NetworkLine[];
  currentMs: number;
  onSeek: (offsetMs: number) => void;
  providerLabel: (name: string | null | undefined) => string;
  loadLive: () => Promise<BackendLogs>;
}

export function SidePanel(props: Props) {
  const [tab, setTab] = useState<Tab>("Backend");
  const refs = useRef<Record<string, HTMLButtonElement | null>>({});
  const onKey = (e: KeyboardEvent) => {
    const i = TABS.indexOf(tab);
    const next = e.key === "ArrowRight" ? (i + 1) % TABS.length : e.key === "ArrowLeft" ? (i + TABS.length - 1) % TABS.length : -1;
    if (next >= 0) {
      const t = TABS[next] as Tab;
      setTab(t);
      refs.current[t]?.focus();
      e.preventDefault();
    }
  };
  const counts: Record<Tab, number | null> = {
    Backend: props.backend.length,
    Console: props.consoleLines.length,
    Network: props.network.length,
    Metadata: null,
  };
  return (
    <aside className="side-panel" aria-label="Session details">
      <div role="tablist" aria-label="Session details" onKeyDown={onKey}>
        {TABS.map((t) => (
          <button
            key={t}
            ref={(el) => {
              refs.current[t] = el;
            }}
            role="tab"
            id={`tab-${t}`}
            aria-selected={tab === t}
            aria-controls={`panel-${t}`}
            tabIndex={tab === t ? 0 : -1}
            onClick={() => setTab(t)}
          >
            {t}
            {counts[t] !== null ? <span className="count"> {counts[t]}</span> : null}
          </button>
        ))}
      </div>
      <div role="tabpanel" id={`panel-${tab}`} aria-labelledby={`tab-${tab}`} className="tab-body">
        {tab === "Backend" ? <BackendTab {...props} /> : null}
        {tab === "Console" ? <ConsoleTab lines={props.consoleLines} currentMs={props.currentMs} onSeek={props.onSeek} /> : null}
        {tab === "Network" ? <NetworkTab lines={props.network} currentMs={props.currentMs} onSeek={props.onSeek} /> : null}
        {tab === "Metadata" ? <MetadataTab session={props.session} /> : null}
      </div>
    </aside>
  );
}

/** Index of the last item at or before ``now`` (the one playback is at), or -1. */
export function currentIndex(offsets: number[], now: number): number {
  let found = -1;
  offsets.forEach((o, i) => {
    if (o <= now) found = i;
  });
  return found;
}

interface Row {
  key: string;
  offsetMs: number;
  title: string;
  provider: string | null | undefined;
  level: string | null | undefined;
  message: string | null | undefined;
  link: string | null | undefined;
  outside: boolean;
  live: boolean;
  event: TimelineEvent | null | undefined;
}

function BackendTab({ backend, currentMs, onSeek, providerLabel, loadLive }: Props) {
  const [live, setLive] = useState<{ busy: boolean; answer: BackendLogs | null; error: string | null }>({ busy: false, answer: null, error: null });
  const rows: Row[] = live.answer
    ? live.answer.events.map((e, i) => ({
        key: `live-${i}`,
        offsetMs: e.offset_ms ?? 0,
        title: e.title,
        provider: e.provider,
        level: e.level,
        message: e.message,
        link: e.link,
        outside: Boolean((e as { outside_session?: boolean }).outside_session),
        live: e.source === "live",
        event: e,
      }))
    : backend.map((m) => ({
        key: m.id,
        offsetMs: m.offsetMs,
        title: m.title,
        provider: m.provider,
        level: m.level,
        message: m.message,
        link: m.backend?.link ?? null,
        outside: m.outside,
        live: false,
        event: m.backend,
      }));
  const current = currentIndex(
    rows.map((r) => r.offsetMs),
    currentMs,
  );
  const currentRef = useRef<HTMLLIElement | null>(null);
  useEffect(() => {
    currentRef.current?.scrollIntoView?.({ block: "nearest" });
  }, [current]);
  return (
    <div>
      <div className="actions">
        <button
          type="button"
          className="secondary"
          disabled={live.busy}
          onClick={async () => {
            setLive({ busy: true, answer: live.answer, error: null });
            try {
              setLive({ busy: false, answer: await loadLive(), error: null });
            } catch (e) {
              setLive({ busy: false, answer: live.answer, error: e instanceof Error ? e.message : String(e) });
            }
          }}
        >
          {live.busy ? "Asking the providers…" : "Load live logs"}
        </button>
      </div>
      {live.error ? (
        <p className="error-box" role="alert">
          <Untrusted text={live.error} />
        </p>
      ) : null}
      {live.answer ? (
        <ul className="provider-status" aria-label="Live log answers">
          {live.answer.providers.length === 0 ? <li>No integration is enabled for this project.</li> : null}
          {live.answer.providers.map((p) => (
            <li key={p.integration_id} className={`status-${p.status}`}>
              {providerLabel(p.provider)} ({p.name}): {p.status}
              {p.status === "ok" ? `, ${p.records} records${p.truncated ? " (truncated)" : ""}${p.cached ? ", cached" : ""}` : ""}
              {p.message ? (
                <>
                  {" — "}
                  <Untrusted text={p.message} max={1000} />
                </>
              ) : null}
            </li>
          ))}
        </ul>
      ) : null}
      {rows.length === 0 ? <p className="muted">No backend error is attached to this session.</p> : null}
      <ol className="rows">
        {rows.map((r, i) => {
          const href = safeHttpUrl(r.link);
          return (
            <li key={r.key} ref={i === current ? currentRef : undefined} className={`row level-${r.level ?? "error"}${i === current ? " current" : ""}${i > current ? " future" : ""}`}>
              <button type="button" className="row-seek" onClick={() => onSeek(r.offsetMs)} aria-label={`Play 2 s before: ${revealBidi(truncate(r.title, 300))}`}>
                <span className="time">{r.outside ? "outside" : duration(r.offsetMs)}</span>
              </button>
              <div className="row-body">
                <div className="row-title">
                  <span className="provider">{providerLabel(r.provider)}</span> <Untrusted className="title" text={r.title} max={300} />
                  {r.live ? <span className="badge">live</span> : null}
                  {r.outside ? <span className="badge warn">outside the recording</span> : null}
                </div>
                {r.message && r.message !== r.title ? (
                  <pre className="message">
                    <Untrusted text={r.message} max={4000} />
                  </pre>
                ) : null}
                {r.event?.service || r.event?.host ? <Origin parts={[r.event.service, r.event.host, r.event.logger]} /> : null}
                {href ? (
                  <a href={href} target="_blank" rel="noopener noreferrer nofollow">
                    Open in {providerLabel(r.provider)}
                  </a>
                ) : null}
              </div>
            </li>
          );
        })}
      </ol>
    </div>
  );
}

/** Where a backend event was logged: service · host · logger, each isolated from the others. */
function Origin({ parts }: { parts: (string | null | undefined)[] }) {
  const shown = parts.filter((p): p is string => Boolean(p));
  return (
    <p className="muted">
      {shown.map((p, i) => (
        <span key={i}>
          {i ? " · " : null}
          <Untrusted text={p} max={200} />
        </span>
      ))}
    </p>
  );
}

function ConsoleTab({ lines, currentMs, onSeek }: { lines: ConsoleLine[]; currentMs: number; onSeek: (ms: number) => void }) {
  if (!lines.length) return <p className="muted">No console output was recorded.</p>;
  const current = currentIndex(
    lines.map((l) => l.offsetMs),
    currentMs,
  );
  return (
    <ol className="rows console">
      {lines.map((l, i) => (
        <li key={i} className={`row level-${l.level}${i === current ? " current" : ""}${i > current ? " future" : ""}`}>
          <button type="button" className="row-seek" onClick={() => onSeek(l.offsetMs)} aria-label={`Play 2 s before console ${revealBidi(truncate(l.level, 40))} at ${duration(l.offsetMs)}`}>
            <span className="time">{duration(l.offsetMs)}</span>
          </button>
          <pre className="message">
            <Untrusted text={l.level} max={40} />: <Untrusted text={l.message} max={2000} />
          </pre>
        </li>
      ))}
    </ol>
  );
}

function NetworkTab({ lines, currentMs, onSeek }: { lines: NetworkLine[]; currentMs: number; onSeek: (ms: number) => void }) {
  if (!lines.length) return <p className="muted">No request was recorded.</p>;
  const current = currentIndex(
    lines.map((l) => l.offsetMs),
    currentMs,
  );
  return (
    <ol className="rows network">
      {lines.map((l, i) => (
        <li key={i} className={`row${l.failed ? " failed" : ""}${i === current ? " current" : ""}${i > current ? " future" : ""}`}>
          <button type="button" className="row-seek" onClick={() => onSeek(l.offsetMs)} aria-label={`Play 2 s before ${revealBidi(truncate(l.method, 20))} ${revealBidi(truncate(l.url, 60))}`}>
            <span className="time">{duration(l.offsetMs)}</span>
          </button>
          <span className="net">
            <Untrusted className="method" text={l.method} max={20} /> <span className="status">{l.status ?? "–"}</span>{" "}
            <Untrusted className="url" text={l.url} max={200} />
            {l.durationMs !== null ? <span className="muted"> {Math.round(l.durationMs)} ms</span> : null}
          </span>
        </li>
      ))}
    </ol>
  );
}

function MetadataTab({ session }: { session: SessionDetail }) {
  return (
    <dl className="facts meta">
      <dt>Session id</dt>
      <dd>{session.id}</dd>
      <dt>User id</dt>
      <dd>{session.user_id ? <Untrusted text={session.user_id} /> : "anonymous"}</dd>
      <dt>Started</dt>
      <dd>{when(session.started_at)}</dd>
      <dt>Last seen</dt>
      <dd>{when(session.last_seen_at)}</dd>
      <dt>Duration</dt>
      <dd>{duration(session.duration_ms)}</dd>
      <dt>Token expires</dt>
      <dd>{when(session.token_expires_at)}</dd>
      <dt>First page</dt>
      <dd className="clip">
        <Untrusted text={session.page_url} />
      </dd>
      <dt>User agent</dt>
      <dd>
        <Untrusted text={session.user_agent} />
      </dd>
      {session.token ? (
        <>
          <dt>Session token</dt>
          <dd>
            <code className="token">{session.token}</code> <CopyButton text={session.token} label="Copy token" />
          </dd>
        </>
      ) : null}
      {Object.entries(session.metadata ?? {}).map(([k, v]) => (
        <div key={k}>
          <dt>
            <Untrusted text={k} max={100} />
          </dt>
          <dd>
            <Untrusted text={typeof v === "string" ? v : String(JSON.stringify(v))} max={1000} />
          </dd>
        </div>
      ))}
    </dl>
  );
}
