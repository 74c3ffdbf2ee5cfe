import { useState, type FormEvent } from "react";
import { Link, useParams, useSearchParams } from "react-router";
import { useInfiniteQuery, useQuery } from "@tanstack/react-query";
import { api, type ErrorGroupList, type SessionList, type SessionRow } from "../api";
import { useProjectId } from "../App";
import { ago, revealBidi, when } from "../format";
import { Sparkline } from "../components/Sparkline";
import { useProviderLabel, useProviders } from "../components/ProviderNames";
import { EmptyState, ErrorBox } from "../components/EmptyState";
import { Count } from "../components/SearchProgress";
import { Untrusted } from "../components/Untrusted";
import { SessionTable } from "./Sessions";

interface Histograms {
  start: string;
  end: string;
  buckets: number;
  counts: Record<string, number[]>;
}

export function BackendErrorsPage() {
  const projectId = useProjectId();
  const [params, setParams] = useSearchParams();
  const provider = params.get("provider") ?? "";
  const q = params.get("q") ?? "";
  const label = useProviderLabel();
  const groups = useInfiniteQuery({
    queryKey: ["error-groups", projectId, provider, q],
    initialPageParam: null as string | null,
    queryFn: ({ pageParam }) =>
      api<ErrorGroupList>(`/api/v1/projects/${projectId}/backend-errors`, { query: { provider, q, cursor: pageParam } }),
    getNextPageParam: (last) => last.next_cursor,
  });
  const list = groups.data?.pages.flatMap((p) => p.groups) ?? [];
  const fingerprints = list.map((g) => g.fingerprint);
  const hist = useQuery({
    queryKey: ["error-histograms", projectId, fingerprints],
    enabled: fingerprints.length > 0,
    queryFn: () => {
      const p = new URLSearchParams();
      fingerprints.slice(0, 200).forEach((f) => p.append("fingerprint", f));
      return api<Histograms>(`/api/v1/projects/${projectId}/backend-error-histograms?${p.toString()}`);
    },
  });
  return (
    <>
      <h1>Backend errors</h1>
      <ErrorFilters
        key={params.toString()}
        provider={provider}
        q={q}
        onApply={(next) => {
          const p = new URLSearchParams();
          if (next.provider) p.set("provider", next.provider);
          if (next.q) p.set("q", next.q);
          setParams(p);
        }}
      />
      <ErrorBox error={groups.error} />
      {groups.isLoading ? <p className="loading">Loading…</p> : null}
      {groups.isSuccess && list.length === 0 ? (
        <EmptyState title="No backend errors yet">
          <p>
            Backend errors appear once a log provider is connected under{" "}
            <Link to={`/projects/${projectId}/preferences/integrations`}>Preferences &gt; Integrations</Link> and your backend
            logs carry <code>openReplaySessionToken=&lt;token&gt;</code>.
          </p>
        </EmptyState>
      ) : null}
      {list.some((g) => g.estimated) ? (
        <p className="hint">≈: estimated from a sample of the events (this search matches many). Narrow it for exact counts.</p>
      ) : null}
      {list.length ? (
        <table className="groups">
          <thead>
            <tr>
              <th scope="col">Error</th>
              <th scope="col">Provider</th>
              <th scope="col">Events</th>
              <th scope="col">Sessions</th>
              <th scope="col">First seen</th>
              <th scope="col">Last seen</th>
              <th scope="col">Last 14 days</th>
            </tr>
          </thead>
          <tbody>
            {list.map((g) => (
              <tr key={g.fingerprint}>
                <td className="clip">
                  <Link to={`/projects/${projectId}/errors/${encodeURIComponent(g.fingerprint)}`}>
                    <Untrusted text={g.title ?? g.fingerprint} max={140} />
                  </Link>
                  {g.sample?.service ? (
                    <span className="muted">
                      {" "}
                      <Untrusted text={g.sample.service} max={60} />
                    </span>
                  ) : null}
                </td>
                <td>{label(g.provider)}</td>
                <td>
                  <Count value={g.count} estimated={g.estimated} />
                </td>
                <td>
                  <Count value={g.sessions} estimated={g.estimated} />
                </td>
                <td title={when(g.first_seen)}>{ago(g.first_seen)}</td>
                <td title={when(g.last_seen)}>{ago(g.last_seen)}</td>
                <td>
                  {hist.data?.counts[g.fingerprint] ? <Sparkline counts={hist.data.counts[g.fingerprint] ?? []} label={`${g.title ? revealBidi(g.title) : "error"} per half day`} /> : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      {groups.hasNextPage ? (
        <button type="button" className="secondary" onClick={() => void groups.fetchNextPage()}>
          Load more groups
        </button>
      ) : null}
    </>
  );
}

function ErrorFilters({ provider, q, onApply }: { provider: string; q: string; onApply: (f: { provider: string; q: string }) => void }) {
  const [p, setP] = useState(provider);
  const [text, setText] = useState(q);
  const providers = useProviders();
  const submit = (e: FormEvent) => {
    e.preventDefault();
    onApply({ provider: p, q: text });
  };
  return (
    <form className="filters" onSubmit={submit} aria-label="Backend error filters">
      <label>
        Provider
        <select value={p} onChange={(e) => setP(e.target.value)}>
          <option value="">any</option>
          {(providers.data ?? []).map((x) => (
            <option key={x.name} value={x.name}>
              {x.label}
            </option>
          ))}
        </select>
      </label>
      <label className="grow">
        Search
        <input type="search" maxLength={500} value={text} onChange={(e) => setText(e.target.value)} />
      </label>
      <div className="filter-actions">
        <button type="submit">Apply</button>
      </div>
    </form>
  );
}

export function ErrorGroupPage() {
  const projectId = useProjectId();
  const { fingerprint = "" } = useParams();
  const sessions = useInfiniteQuery({
    queryKey: ["group-sessions", projectId, fingerprint],
    initialPageParam: null as string | null,
    queryFn: ({ pageParam }) =>
      api<SessionList>(`/api/v1/projects/${projectId}/backend-errors/${encodeURIComponent(fingerprint)}/sessions`, {
        query: { cursor: pageParam },
      }),
    getNextPageParam: (last) => last.next_cursor,
  });
  const group = useQuery({
    queryKey: ["error-group", projectId, fingerprint],
    queryFn: async () => {
      // The group's summary comes from the list (searched by fingerprint in the first pages).
      let cursor: string | null = null;
      for (let i = 0; i < 5; i++) {
        const page: ErrorGroupList = await api<ErrorGroupList>(`/api/v1/projects/${projectId}/backend-errors`, { query: { cursor, limit: 200 } });
        const found = page.groups.find((g) => g.fingerprint === fingerprint);
        if (found) return found;
        cursor = page.next_cursor;
        if (!cursor) break;
      }
      return null;
    },
  });
  const rows = sessions.data?.pages.flatMap((p) => p.sessions) ?? [];
  const playAt = (s: SessionRow) => `/projects/${projectId}/sessions/${s.id}?error=${encodeURIComponent(fingerprint)}`;
  const g = group.data;
  return (
    <>
      <p>
        <Link to={`/projects/${projectId}/errors`}>← Backend errors</Link>
      </p>
      <h1 className="clip">{g?.title ? <Untrusted text={g.title} /> : "Backend error"}</h1>
      {g ? (
        <dl className="facts">
          <dt>Events</dt>
          <dd>{g.count}</dd>
          <dt>Sessions</dt>
          <dd>{g.sessions}</dd>
          <dt>First seen</dt>
          <dd>{when(g.first_seen)}</dd>
          <dt>Last seen</dt>
          <dd>{when(g.last_seen)}</dd>
        </dl>
      ) : null}
      {g?.sample?.message ? (
        <pre className="message">
          <Untrusted text={g.sample.message} max={4000} />
        </pre>
      ) : null}
      <h2>Affected sessions</h2>
      <ErrorBox error={sessions.error} />
      {rows.length ? <SessionTable projectId={projectId} rows={rows} playAt={playAt} /> : sessions.isSuccess ? <p>No session is recorded for this error.</p> : null}
      {sessions.hasNextPage ? (
        <button type="button" className="secondary" onClick={() => void sessions.fetchNextPage()}>
          Load more sessions
        </button>
      ) : null}
    </>
  );
}
