import { useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, type ApiKeyRow } from "../api";
import { useProjects } from "../App";
import { ago, when } from "../format";
import { CopyButton } from "../components/CopyButton";
import { ErrorBox } from "../components/EmptyState";

export function ApiKeysPage() {
  const qc = useQueryClient();
  const projects = useProjects();
  const keys = useQuery({ queryKey: ["api-keys"], queryFn: () => api<ApiKeyRow[]>("/api/v1/api-keys") });
  const [name, setName] = useState("");
  const [scope, setScope] = useState("");
  const [created, setCreated] = useState<ApiKeyRow | null>(null);
  const create = useMutation({
    mutationFn: () => api<ApiKeyRow>("/api/v1/api-keys", { method: "POST", body: { name, project_id: scope ? Number(scope) : null } }),
    onSuccess: (row) => {
      setCreated(row);
      setName("");
      void qc.invalidateQueries({ queryKey: ["api-keys"] });
    },
  });
  const revoke = useMutation({
    mutationFn: (id: number) => api<void>(`/api/v1/api-keys/${id}`, { method: "DELETE" }),
    onSuccess: () => qc.invalidateQueries({ queryKey: ["api-keys"] }),
  });
  const projectName = (id: number | null) => (id === null ? "all projects (admin)" : projects.data?.find((p) => p.id === id)?.name ?? `project ${id}`);
  return (
    <>
      <h1>Preferences &gt; API keys</h1>
      <ErrorBox error={keys.error ?? create.error ?? revoke.error} />
      <form
        className="card inline-form"
        onSubmit={(e) => {
          e.preventDefault();
          create.mutate();
        }}
      >
        <h2>New API key</h2>
        <label>
          Name
          <input value={name} maxLength={200} onChange={(e) => setName(e.target.value)} />
        </label>
        <label>
          Scope
          <select value={scope} onChange={(e) => setScope(e.target.value)}>
            <option value="">all projects (admin)</option>
            {(projects.data ?? []).map((p) => (
              <option key={p.id} value={p.id}>
                {p.name}
              </option>
            ))}
          </select>
        </label>
        <button type="submit" disabled={create.isPending}>
          Create key
        </button>
      </form>
      {created?.key ? (
        <div className="ok-box" role="status">
          <p>Store this key now: it is shown only once.</p>
          <code>{created.key}</code> <CopyButton text={created.key} label="Copy key" />
        </div>
      ) : null}
      <table>
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Key</th>
            <th scope="col">Scope</th>
            <th scope="col">Created</th>
            <th scope="col">Last used</th>
            <th scope="col">State</th>
          </tr>
        </thead>
        <tbody>
          {(keys.data ?? []).map((k) => (
            <tr key={k.id}>
              <td>{k.name || "–"}</td>
              <td>
                <code>{k.prefix}…</code>
              </td>
              <td>{projectName(k.project_id)}</td>
              <td>{when(k.created_at)}</td>
              <td>{ago(k.last_used_at)}</td>
              <td>
                {k.revoked_at ? (
                  `revoked ${ago(k.revoked_at)}`
                ) : (
                  <button type="button" className="danger small" onClick={() => revoke.mutate(k.id)} aria-label={`Revoke key ${k.prefix}`}>
                    Revoke
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}
