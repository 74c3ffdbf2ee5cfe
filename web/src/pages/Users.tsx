import { useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, type UserRow } from "../api";
import { useProjects } from "../App";
import { useAuth } from "../auth";
import { when } from "../format";
import { CopyButton } from "../components/CopyButton";
import { ErrorBox } from "../components/EmptyState";

export function UsersPage() {
  const qc = useQueryClient();
  const { me } = useAuth();
  const projects = useProjects();
  const users = useQuery({ queryKey: ["users"], queryFn: () => api<UserRow[]>("/api/v1/users") });
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [isAdmin, setIsAdmin] = useState(false);
  const [access, setAccess] = useState<number[]>([]);
  const [created, setCreated] = useState<UserRow | null>(null);
  const refresh = () => qc.invalidateQueries({ queryKey: ["users"] });
  const create = useMutation({
    mutationFn: () =>
      api<UserRow>("/api/v1/users", { method: "POST", body: { email, password: password || null, is_admin: isAdmin, project_ids: access } }),
    onSuccess: (row) => {
      setCreated(row);
      setEmail("");
      setPassword("");
      void refresh();
    },
  });
  const update = useMutation({
    mutationFn: ({ id, body }: { id: number; body: Partial<UserRow> }) => api<UserRow>(`/api/v1/users/${id}`, { method: "PATCH", body }),
    onSuccess: refresh,
  });
  const remove = useMutation({ mutationFn: (id: number) => api<void>(`/api/v1/users/${id}`, { method: "DELETE" }), onSuccess: refresh });
  const projectList = projects.data ?? [];
  return (
    <>
      <h1>Preferences &gt; Users</h1>
      <ErrorBox error={users.error ?? create.error ?? update.error ?? remove.error} />
      <form
        className="card inline-form"
        onSubmit={(e) => {
          e.preventDefault();
          create.mutate();
        }}
      >
        <h2>Invite a user</h2>
        <label>
          Email
          <input type="email" required value={email} onChange={(e) => setEmail(e.target.value)} />
        </label>
        <label>
          Password (empty: generate one)
          <input type="password" autoComplete="new-password" minLength={8} value={password} onChange={(e) => setPassword(e.target.value)} />
        </label>
        <label className="check">
          <input type="checkbox" checked={isAdmin} onChange={(e) => setIsAdmin(e.target.checked)} /> Admin (sees every project)
        </label>
        {!isAdmin ? (
          <fieldset>
            <legend>Projects</legend>
            {projectList.map((p) => (
              <label key={p.id} className="check">
                <input
                  type="checkbox"
                  checked={access.includes(p.id)}
                  onChange={(e) => setAccess(e.target.checked ? [...access, p.id] : access.filter((x) => x !== p.id))}
                />{" "}
                {p.name}
              </label>
            ))}
          </fieldset>
        ) : null}
        <button type="submit" disabled={create.isPending}>
          Create user
        </button>
      </form>
      {created ? (
        <div className="ok-box" role="status">
          <p>{created.email} can sign in now.</p>
          {created.password ? (
            <p>
              One-time password (shown once, hand it over safely): <code>{created.password}</code>{" "}
              <CopyButton text={created.password} label="Copy password" />
            </p>
          ) : null}
        </div>
      ) : null}
      <table>
        <thead>
          <tr>
            <th scope="col">Email</th>
            <th scope="col">Role</th>
            <th scope="col">Projects</th>
            <th scope="col">Created</th>
            <th scope="col">Actions</th>
          </tr>
        </thead>
        <tbody>
          {(users.data ?? []).map((u) => (
            <tr key={u.id}>
              <td>{u.email}</td>
              <td>{u.is_admin ? "admin" : "member"}</td>
              <td>{u.is_admin ? "all" : u.project_ids.map((id) => projectList.find((p) => p.id === id)?.name ?? id).join(", ") || "none"}</td>
              <td>{when(u.created_at)}</td>
              <td>
                <button type="button" className="secondary small" onClick={() => update.mutate({ id: u.id, body: { is_admin: !u.is_admin } })}>
                  {u.is_admin ? "Make member" : "Make admin"}
                </button>{" "}
                {u.id !== me?.user.id ? (
                  <button type="button" className="danger small" onClick={() => remove.mutate(u.id)} aria-label={`Delete user ${u.email}`}>
                    Delete
                  </button>
                ) : null}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}
