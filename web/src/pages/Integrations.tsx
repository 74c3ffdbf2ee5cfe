// Preferences > Integrations: one card per provider of the catalogue, forms from each provider's schema.
import { useMemo, useRef, useState } from "react";
import { Link } from "react-router";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, ApiError, fieldProblems, problemField, type Change, type Integration, type ProviderInfo } from "../api";
import { useProjectId } from "../App";
import { ago, when } from "../format";
import { fieldsOf, initialValues, SchemaForm, toSettings, type Values } from "../components/SchemaForm";
import { useProviders } from "../components/ProviderNames";
import { ErrorBox } from "../components/EmptyState";
import { Untrusted } from "../components/Untrusted";

export function IntegrationsPage() {
  const projectId = useProjectId();
  const providers = useProviders();
  const integrations = useQuery({
    queryKey: ["integrations", projectId],
    queryFn: () => api<Integration[]>(`/api/v1/projects/${projectId}/integrations`),
  });
  return (
    <>
      <h1>Preferences &gt; Integrations</h1>
      <p className="lead">
        Connect a log provider: ReplayLink imports the backend errors whose log line carries{" "}
        <code>openReplaySessionToken=&lt;token&gt;</code> and shows them on each session. How to send the token from your
        backend: <Link to={`/projects/${projectId}/preferences/project`}>Preferences &gt; Project</Link>.
      </p>
      <ErrorBox error={providers.error ?? integrations.error} />
      {integrations.isSuccess && integrations.data.length === 0 ? (
        <p className="notice">No integration yet: pick your log provider below and fill in its form.</p>
      ) : null}
      <div className="cards">
        {(providers.data ?? []).map((p) => (
          <ProviderCard key={p.name} provider={p} projectId={projectId} integrations={(integrations.data ?? []).filter((i) => i.provider === p.name)} />
        ))}
      </div>
    </>
  );
}

function ProviderCard({ provider, projectId, integrations }: { provider: ProviderInfo; projectId: number; integrations: Integration[] }) {
  const [adding, setAdding] = useState(false);
  const headingId = `provider-${provider.name}`;
  return (
    <section className="card provider" aria-labelledby={headingId} data-provider={provider.name}>
      <header>
        <h2 id={headingId}>{provider.label}</h2>
        <span className={`badge ${integrations.length ? "ok" : "muted"}`}>{integrations.length ? `${integrations.length} connected` : "not connected"}</span>
      </header>
      {provider.settings_schema.description ? <p className="hint">{provider.settings_schema.description}</p> : null}
      {integrations.map((i) => (
        <IntegrationView key={i.name} provider={provider} projectId={projectId} integration={i} />
      ))}
      {adding ? (
        <IntegrationForm
          provider={provider}
          projectId={projectId}
          existing={null}
          takenNames={integrations.map((i) => i.name)}
          onDone={() => setAdding(false)}
        />
      ) : (
        <button type="button" onClick={() => setAdding(true)}>
          {integrations.length ? `Add another ${provider.label} integration` : `Connect ${provider.label}`}
        </button>
      )}
    </section>
  );
}

function nextName(taken: string[]): string {
  if (!taken.includes("default")) return "default";
  for (let i = 2; ; i++) if (!taken.includes(`default-${i}`)) return `default-${i}`;
}

interface Outcome {
  ok: boolean;
  message: string;
  field?: string | null;
}

export function IntegrationForm({
  provider,
  projectId,
  existing,
  takenNames = [],
  onDone,
}: {
  provider: ProviderInfo;
  projectId: number;
  existing: Integration | null;
  takenNames?: string[];
  onDone: () => void;
}) {
  const qc = useQueryClient();
  const fields = useMemo(
    () =>
      fieldsOf(provider.settings_schema).map((f) =>
        provider.choice_fields?.includes(f.name) ? { ...f, schema: { ...f.schema, choices: true } } : f,
      ),
    [provider],
  );
  const [name, setName] = useState(existing?.name ?? nextName(takenNames));
  const [values, setValues] = useState<Values>(() => initialValues(fields, existing?.settings ?? null));
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [checked, setChecked] = useState<string | null>(null);
  const [busy, setBusy] = useState<"check" | "save" | null>(null);
  const settings = toSettings(fields, values);
  // Stored secrets never follow a change of an address field (where they are sent): re-enter them.
  const movedTo = existing
    ? fields.filter((f) => f.schema.address && JSON.stringify(settings[f.name] ?? null) !== JSON.stringify(existing.settings[f.name] ?? null))
    : [];
  const storedSecrets: Record<string, string> = {};
  for (const f of provider.secret_fields) {
    const v = existing?.settings[f];
    if (typeof v === "string" && v && movedTo.length === 0) storedSecrets[f] = v;
  }
  // A form that creates an integration never replaces one: PUT creates *or replaces*, and Check merges
  // the stored secrets of an integration of that name, so a taken name would pass Check and then wipe it.
  const created = useRef(false);
  const taken = existing === null && !created.current && takenNames.includes(name);
  const fingerprint = JSON.stringify([name, settings]);
  const base = `/api/v1/projects/${projectId}/integrations/${encodeURIComponent(provider.name)}/${encodeURIComponent(name)}`;

  const fail = (e: unknown) => {
    if (e instanceof ApiError) {
      const field = problemField(e.details);
      const perField = fieldProblems(e.details);
      if (field) perField[field] = e.message;
      setErrors(perField);
      const fieldTitle = field ? fields.find((f) => f.name === field)?.schema.title ?? field : null;
      setOutcome({ ok: false, message: e.message, field: fieldTitle });
    } else setOutcome({ ok: false, message: String(e) });
  };
  /** For a new integration: the list as the server has it now (another tab may have saved that name). */
  const takenOnServer = async (): Promise<boolean> => {
    if (existing) return false;
    const list = await qc.fetchQuery({
      queryKey: ["integrations", projectId],
      queryFn: () => api<Integration[]>(`/api/v1/projects/${projectId}/integrations`),
      staleTime: 0,
    });
    return list.some((i) => i.provider === provider.name && i.name === name);
  };
  const check = async () => {
    if (taken) return;
    setBusy("check");
    setOutcome(null);
    setErrors({});
    try {
      if (await takenOnServer()) {
        setChecked(null);
        return;
      }
      const answer = await api<{ ok: boolean; message: string }>(`${base}/check`, { method: "POST", body: { settings } });
      setOutcome({ ok: true, message: answer.message });
      setChecked(fingerprint);
    } catch (e) {
      setChecked(null);
      fail(e);
    } finally {
      setBusy(null);
    }
  };
  const save = async () => {
    if (taken) return;
    setBusy("save");
    setErrors({});
    try {
      if (existing) await api<Integration>(base, { method: "PATCH", body: { settings } });
      else {
        // Re-read the list right before it (the inline message); the PUT is create-only (412 if another tab won).
        if (await takenOnServer()) {
          setChecked(null);
          setOutcome(null);
          return;
        }
        await api<Integration>(base, { method: "PUT", body: { settings }, headers: { "If-None-Match": "*" } });
        created.current = true;
      }
      await qc.invalidateQueries({ queryKey: ["integrations", projectId] });
      onDone();
    } catch (e) {
      fail(e);
    } finally {
      setBusy(null);
    }
  };
  const choices = async (field: string, current: Values): Promise<string[]> => {
    const answer = await api<{ choices?: unknown[]; values?: unknown[] }>(
      `/api/v1/integrations/${encodeURIComponent(provider.name)}/choices/${encodeURIComponent(field)}`,
      { method: "POST", body: { settings: toSettings(fields, current), project_id: projectId, name: existing?.name } },
    );
    const list = answer.choices ?? answer.values ?? [];
    return list.map((c) => (typeof c === "object" && c !== null ? String((c as { value?: unknown }).value ?? "") : String(c))).filter(Boolean);
  };
  const formId = `form-${provider.name}-${existing?.name ?? "new"}`;
  return (
    <form
      className="integration-form"
      aria-label={`${provider.label} settings`}
      onSubmit={(e) => {
        e.preventDefault();
        void save();
      }}
    >
      {existing ? null : (
        <div className="field">
          <label htmlFor={`${formId}-name`}>Integration name</label>
          <input
            id={`${formId}-name`}
            value={name}
            pattern="[a-z0-9_\-]{1,64}"
            maxLength={64}
            aria-invalid={taken || undefined}
            aria-describedby={taken ? `${formId}-name-taken` : undefined}
            onChange={(e) => setName(e.target.value)}
          />
          {taken ? (
            <p className="field-error" id={`${formId}-name-taken`} role="alert" data-testid="name-taken">
              An integration named <Untrusted text={name} /> already exists; edit it instead.
            </p>
          ) : null}
          <p className="hint">Lets a project have several {provider.label} integrations (a-z, 0-9, - and _).</p>
        </div>
      )}
      {movedTo.length ? (
        <p className="notice" role="status">
          {movedTo.map((f) => f.schema.title ?? f.name).join(", ")} changed: enter the secrets again, they are never sent to a new address.
        </p>
      ) : null}
      <SchemaForm fields={fields} values={values} onChange={setValues} storedSecrets={storedSecrets} errors={errors} choices={choices} idPrefix={formId} />
      {outcome ? (
        <div className={outcome.ok ? "ok-box" : "error-box"} role={outcome.ok ? "status" : "alert"} data-testid="check-outcome">
          <p>
            <Untrusted text={outcome.message} />
          </p>
          {outcome.field ? <p>Fix the field: {outcome.field}</p> : null}
        </div>
      ) : null}
      <div className="actions">
        <button type="button" className="secondary" onClick={() => void check()} disabled={busy !== null || taken}>
          {busy === "check" ? "Checking…" : "Check"}
        </button>
        <button type="submit" disabled={busy !== null || taken || checked !== fingerprint} title={checked !== fingerprint ? "Check the settings first" : undefined}>
          {busy === "save" ? "Saving…" : "Save"}
        </button>
        <button type="button" className="secondary" onClick={onDone}>
          Cancel
        </button>
      </div>
      {checked !== fingerprint ? <p className="hint">Check the settings with {provider.label} before saving them.</p> : null}
    </form>
  );
}

interface Diagnostics {
  outcomes: Record<string, number>;
  rejected: Record<string, number>;
  samples: Record<string, string | number | boolean | null>[];
  records_scanned: number;
  events_imported: number;
}

function IntegrationView({ provider, projectId, integration }: { provider: ProviderInfo; projectId: number; integration: Integration }) {
  const qc = useQueryClient();
  const [panel, setPanel] = useState<"none" | "edit" | "diagnostics" | "history" | "delete">("none");
  const [purge, setPurge] = useState(false);
  const base = `/api/v1/projects/${projectId}/integrations/${encodeURIComponent(provider.name)}/${encodeURIComponent(integration.name)}`;
  const refresh = () => qc.invalidateQueries({ queryKey: ["integrations", projectId] });
  const toggle = useMutation({
    mutationFn: () => api<Integration>(`${base}/${integration.paused ? "resume" : "pause"}`, { method: "POST" }),
    onSuccess: refresh,
  });
  const remove = useMutation({
    mutationFn: () => api<unknown>(base, { method: "DELETE", query: { purge_events: purge } }),
    onSuccess: refresh,
  });
  const h = integration.health;
  const show = (p: typeof panel) => setPanel(panel === p ? "none" : p);
  return (
    <article className="integration" aria-label={`${provider.label} integration ${integration.name}`}>
      <header>
        <h3>{integration.name}</h3>
        <span className={`badge status-${h.status}`}>{h.status.replace("_", " ")}</span>
      </header>
      <dl className="facts">
        <dt>Last success</dt>
        <dd title={when(h.last_success_at)}>{ago(h.last_success_at)}</dd>
        <dt>Lag</dt>
        <dd>{h.lag_seconds === null ? "–" : `${Math.round(h.lag_seconds)} s`}</dd>
        <dt>Records scanned</dt>
        <dd>{h.records_scanned}</dd>
        <dt>Events imported</dt>
        <dd>{h.events_imported}</dd>
        <dt>Next poll</dt>
        <dd>{h.next_poll_at ? ago(h.next_poll_at) : "–"}</dd>
        {integration.credentials_error ? (
          <>
            <dt>Credentials</dt>
            <dd className="bad" data-testid="credentials-error">
              <Untrusted text={integration.credentials_error} max={1000} />
            </dd>
          </>
        ) : null}
        {h.last_error ? (
          <>
            <dt>Last error</dt>
            <dd className="bad">
              <Untrusted text={h.last_error} max={1000} /> ({ago(h.last_error_at)})
            </dd>
          </>
        ) : null}
      </dl>
      <dl className="facts settings">
        {Object.entries(integration.settings).map(([k, v]) => (
          <div key={k}>
            <dt>{provider.settings_schema.properties?.[k]?.title ?? k}</dt>
            <dd data-setting={k}>{v === null || v === undefined ? "–" : <Untrusted text={Array.isArray(v) ? v.join(", ") : String(v)} />}</dd>
          </div>
        ))}
      </dl>
      <div className="actions">
        <button type="button" className="secondary" aria-expanded={panel === "edit"} onClick={() => show("edit")}>
          Edit
        </button>
        <button type="button" className="secondary" onClick={() => toggle.mutate()} disabled={toggle.isPending}>
          {integration.paused ? "Resume" : "Pause"}
        </button>
        <button type="button" className="secondary" aria-expanded={panel === "diagnostics"} onClick={() => show("diagnostics")}>
          Why not attached?
        </button>
        <button type="button" className="secondary" aria-expanded={panel === "history"} onClick={() => show("history")}>
          History
        </button>
        <button type="button" className="danger" aria-expanded={panel === "delete"} onClick={() => show("delete")}>
          Delete
        </button>
      </div>
      <ErrorBox error={toggle.error ?? remove.error} />
      {panel === "edit" ? <IntegrationForm provider={provider} projectId={projectId} existing={integration} onDone={() => setPanel("none")} /> : null}
      {panel === "diagnostics" ? <DiagnosticsView url={`${base}/diagnostics`} /> : null}
      {panel === "history" ? <HistoryView url={`${base}/history`} /> : null}
      {panel === "delete" ? (
        <div className="confirm" role="group" aria-label="Delete this integration">
          <p>Stop polling and delete these settings?</p>
          <label className="check">
            <input type="checkbox" checked={purge} onChange={(e) => setPurge(e.target.checked)} /> Also delete the {integration.health.events_imported}{" "}
            events it imported
          </label>
          <div className="actions">
            <button type="button" className="danger" onClick={() => remove.mutate()} disabled={remove.isPending}>
              {purge ? "Delete with its events" : "Delete, keep its events"}
            </button>
            <button type="button" className="secondary" onClick={() => setPanel("none")}>
              Cancel
            </button>
          </div>
        </div>
      ) : null}
    </article>
  );
}

function DiagnosticsView({ url }: { url: string }) {
  const d = useQuery({ queryKey: [url], queryFn: () => api<Diagnostics>(url) });
  if (d.error) return <ErrorBox error={d.error} />;
  if (!d.data) return <p className="loading">Loading…</p>;
  const rejected = Object.entries(d.data.rejected).filter(([, n]) => n > 0);
  return (
    <div className="diagnostics">
      <h4>Token outcomes</h4>
      <ul>
        {Object.entries(d.data.outcomes).map(([k, n]) => (
          <li key={k}>
            {k.replaceAll("_", " ")}: {n}
          </li>
        ))}
      </ul>
      {rejected.length === 0 ? <p>No record was rejected.</p> : null}
      {d.data.samples.length ? (
        <>
          <h4>Recent rejected records</h4>
          <ul className="samples">
            {d.data.samples.map((s, i) => (
              <li key={i}>
                <dl>
                  {Object.entries(s).map(([k, v]) => (
                    <div key={k}>
                      <dt>
                        <Untrusted text={k} max={100} />
                      </dt>
                      <dd>
                        <Untrusted text={String(v)} max={1000} />
                      </dd>
                    </div>
                  ))}
                </dl>
              </li>
            ))}
          </ul>
        </>
      ) : null}
    </div>
  );
}

function HistoryView({ url }: { url: string }) {
  const h = useQuery({ queryKey: [url], queryFn: () => api<Change[]>(url) });
  if (h.error) return <ErrorBox error={h.error} />;
  if (!h.data) return <p className="loading">Loading…</p>;
  return (
    <ol className="history">
      {h.data.map((c, i) => (
        <li key={i}>
          <strong>{c.action}</strong> by <Untrusted text={c.actor} />, {when(c.at)}
          {Object.keys(c.changes).length ? (
            <span className="muted">
              {" — "}
              <Untrusted text={Object.keys(c.changes).join(", ")} />
            </span>
          ) : null}
        </li>
      ))}
    </ol>
  );
}
