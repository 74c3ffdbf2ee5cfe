import { useState, type FormEvent } from "react";
import { Link, useSearchParams } from "react-router";
import { useInfiniteQuery } from "@tanstack/react-query";
import { api, type SessionList, type SessionRow } from "../api";
import { useProjectId } from "../App";
import { duration, revealBidi, when } from "../format";
import { useProviderLabel, useProviders } from "../components/ProviderNames";
import { EmptyState, ErrorBox } from "../components/EmptyState";
import { SearchProgress, useSearchOnward } from "../components/SearchProgress";
import { Untrusted } from "../components/Untrusted";

const PAGE = 50;
const FILTERS = ["from", "to", "user_id", "has_backend_errors", "has_js_errors", "has_failed_requests", "provider", "q"] as const;
type Filters = Partial<Record<(typeof FILTERS)[number], string>>;

function localToIso(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

export function SessionsPage() {
  const projectId = useProjectId();
  const [params, setParams] = useSearchParams();
  const filters: Filters = {};
  for (const f of FILTERS) {
    const v = params.get(f);
    if (v) filters[f] = v;
  }
  const query = useInfiniteQuery({
    queryKey: ["sessions", projectId, filters],
    initialPageParam: null as string | null,
    queryFn: ({ pageParam }) =>
      api<SessionList>(`/api/v1/projects/${projectId}/sessions`, {
        query: { ...filters, from: localToIso(filters.from), to: localToIso(filters.to), cursor: pageParam, limit: PAGE },
      }),
    getNextPageParam: (last) => last.next_cursor,
  });
  const rows = query.data?.pages.flatMap((p) => p.sessions) ?? [];
  const searchedTo = query.data?.pages.at(-1)?.searched_to ?? null;
  const filtered = Object.keys(filters).length > 0;
  const searchFurther = useSearchOnward({ ...query, stoppedShort: searchedTo !== null }, `${projectId}?${params.toString()}`, rows.length, PAGE);
  return (
    <>
      <h1>Sessions</h1>
      <SessionFilters
        key={params.toString()}
        initial={filters}
        onApply={(next) => {
          const p = new URLSearchParams();
          for (const [k, v] of Object.entries(next)) if (v) p.set(k, v);
          setParams(p);
        }}
      />
      <ErrorBox error={query.error} />
      {query.isLoading ? <p className="loading">Loading sessions…</p> : null}
      {query.isSuccess && rows.length === 0 && !searchedTo ? (
        filtered ? (
          <EmptyState title="No session matches these filters">
            <p>Clear a filter or widen the date range.</p>
          </EmptyState>
        ) : (
          <EmptyState title="No sessions recorded yet">
            <p>
              Add the tracker to your site: the snippet and the npm lines are under{" "}
              <Link to={`/projects/${projectId}/preferences/project`}>Preferences &gt; Project</Link>. Then connect a log
              provider under <Link to={`/projects/${projectId}/preferences/integrations`}>Preferences &gt; Integrations</Link>{" "}
              to see backend errors on each session.
            </p>
          </EmptyState>
        )
      ) : null}
      {rows.length ? <SessionTable projectId={projectId} rows={rows} /> : null}
      {searchedTo ? (
        <SearchProgress searchedTo={searchedTo} found={rows.length} loading={query.isFetchingNextPage} onMore={searchFurther} />
      ) : query.hasNextPage ? (
        <button type="button" className="secondary" disabled={query.isFetchingNextPage} onClick={() => void query.fetchNextPage()}>
          {query.isFetchingNextPage ? "Loading…" : "Load more sessions"}
        </button>
      ) : null}
    </>
  );
}

function SessionFilters({ initial, onApply }: { initial: Filters; onApply: (f: Filters) => void }) {
  const [f, setF] = useState<Filters>(initial);
  const providers = useProviders();
  const set = (k: keyof Filters, v: string) => setF({ ...f, [k]: v });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    onApply(f);
  };
  const tri = (k: "has_backend_errors" | "has_js_errors" | "has_failed_requests", label: string) => (
    <label>
      {label}
      <select value={f[k] ?? ""} onChange={(e) => set(k, e.target.value)}>
        <option value="">any</option>
        <option value="true">yes</option>
        <option value="false">no</option>
      </select>
    </label>
  );
  return (
    <form className="filters" onSubmit={submit} aria-label="Session filters">
      <label>
        From
        <input type="datetime-local" value={f.from ?? ""} onChange={(e) => set("from", e.target.value)} />
      </label>
      <label>
        To
        <input type="datetime-local" value={f.to ?? ""} onChange={(e) => set("to", e.target.value)} />
      </label>
      <label>
        User id
        <input type="text" maxLength={256} value={f.user_id ?? ""} onChange={(e) => set("user_id", e.target.value)} />
      </label>
      {tri("has_backend_errors", "Backend errors")}
      {tri("has_js_errors", "JS errors")}
      {tri("has_failed_requests", "Failed requests")}
      <label>
        Provider
        <select value={f.provider ?? ""} onChange={(e) => set("provider", e.target.value)}>
          <option value="">any</option>
          {(providers.data ?? []).map((p) => (
            <option key={p.name} value={p.name}>
              {p.label}
            </option>
          ))}
        </select>
      </label>
      <label className="grow">
        Search backend errors
        <input type="search" maxLength={500} value={f.q ?? ""} placeholder="words in titles and messages" onChange={(e) => set("q", e.target.value)} />
      </label>
      <div className="filter-actions">
        <button type="submit">Apply</button>
        <button type="button" className="secondary" onClick={() => onApply({})}>
          Clear
        </button>
      </div>
    </form>
  );
}

function count(n: number | null | undefined): string {
  return n === null || n === undefined ? "–" : String(n);
}

export function SessionTable({ projectId, rows, playAt }: { projectId: number; rows: SessionRow[]; playAt?: (row: SessionRow) => string | null }) {
  const label = useProviderLabel();
  return (
    <table className="sessions">
      <thead>
        <tr>
          <th scope="col">User</th>
          <th scope="col">Started</th>
          <th scope="col">Duration</th>
          <th scope="col">Pages</th>
          <th scope="col">Clicks</th>
          <th scope="col">JS errors</th>
          <th scope="col">Failed requests</th>
          <th scope="col">Backend errors</th>
          <th scope="col">First page / error</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((s) => {
          const href = `/projects/${projectId}/sessions/${s.id}`;
          const at = playAt?.(s);
          const r = s.recording;
          return (
            <tr key={s.id}>
              <td>
                <Link to={href} aria-label={`Play session ${s.id}${s.user_id ? ` of ${revealBidi(s.user_id)}` : ""}`}>
                  {s.user_id ? <Untrusted text={s.user_id} max={40} /> : "anonymous"}
                </Link>
                {at ? (
                  <>
                    {" "}
                    <Link className="play-at" to={at}>
                      play at error
                    </Link>
                  </>
                ) : null}
              </td>
              <td>{when(s.started_at)}</td>
              <td>{duration(s.duration_ms)}</td>
              <td>{count(r?.pages_visited)}</td>
              <td>{count(r?.clicks)}</td>
              <td className={r?.js_errors ? "bad" : undefined}>{count(r?.js_errors)}</td>
              <td className={r?.failed_requests ? "bad" : undefined}>{count(r?.failed_requests)}</td>
              <td>
                {s.backend_events ? (
                  <ul className="chips">
                    {Object.entries(s.backend_events_by_provider).map(([p, n]) => (
                      <li key={p} className="chip backend">
                        {label(p)} {n}
                      </li>
                    ))}
                  </ul>
                ) : (
                  "0"
                )}
              </td>
              <td className="clip">
                <Untrusted className="url" text={s.page_url} max={80} />
                {s.first_error_title ? <Untrusted className="first-error" text={s.first_error_title} max={120} /> : null}
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}
