import { lazy, Suspense } from "react";
import { Navigate, NavLink, Outlet, Route, Routes, useNavigate, useParams, useLocation } from "react-router";
import { useQuery } from "@tanstack/react-query";
import { AuthProvider, useAuth } from "./auth";
import { api, type Project } from "./api";
import { LoginPage } from "./pages/Login";
import { SessionsPage } from "./pages/Sessions";
import { BackendErrorsPage, ErrorGroupPage } from "./pages/BackendErrors";
import { IntegrationsPage } from "./pages/Integrations";
import { ProjectPage } from "./pages/ProjectPrefs";
import { ApiKeysPage } from "./pages/ApiKeys";
import { UsersPage } from "./pages/Users";

// The player (rrweb) loads only with the session page.
const SessionPage = lazy(() => import("./pages/Session").then((m) => ({ default: m.SessionPage })));

export function App() {
  return (
    <AuthProvider>
      <Routes>
        <Route path="/login" element={<LoginPage />} />
        <Route element={<RequireSignIn />}>
          <Route index element={<FirstProject />} />
          <Route path="projects/:projectId" element={<ProjectLayout />}>
            <Route index element={<Navigate to="sessions" replace />} />
            <Route path="sessions" element={<SessionsPage />} />
            <Route
              path="sessions/:sessionId"
              element={
                <Suspense fallback={<p className="loading">Loading the player…</p>}>
                  <SessionPage />
                </Suspense>
              }
            />
            <Route path="errors" element={<BackendErrorsPage />} />
            <Route path="errors/:fingerprint" element={<ErrorGroupPage />} />
            <Route path="preferences/integrations" element={<IntegrationsPage />} />
            <Route path="preferences/project" element={<ProjectPage />} />
            <Route path="preferences/api-keys" element={<ApiKeysPage />} />
            <Route path="preferences/users" element={<UsersPage />} />
          </Route>
          <Route path="*" element={<NotFound />} />
        </Route>
      </Routes>
    </AuthProvider>
  );
}

export function useProjects() {
  return useQuery({ queryKey: ["projects"], queryFn: () => api<Project[]>("/api/v1/projects") });
}

export function useProjectId(): number {
  const { projectId } = useParams();
  return Number(projectId);
}

function RequireSignIn() {
  const { me, loading } = useAuth();
  const location = useLocation();
  if (loading) return <p className="loading">Loading…</p>;
  if (!me) return <Navigate to={`/login?next=${encodeURIComponent(location.pathname + location.search)}`} replace />;
  return <Outlet />;
}

function FirstProject() {
  const projects = useProjects();
  if (projects.isLoading) return <p className="loading">Loading…</p>;
  const first = projects.data?.[0];
  if (!first)
    return (
      <main className="page empty">
        <h1>No project yet</h1>
        <p>
          You cannot see any project. An admin can create one with <code>replaylink project create NAME</code> or give
          you access under Preferences &gt; Users.
        </p>
      </main>
    );
  return <Navigate to={`/projects/${first.id}/sessions`} replace />;
}

function NotFound() {
  return (
    <main className="page">
      <h1>Page not found</h1>
      <p>
        <NavLink to="/">Go to the sessions</NavLink>
      </p>
    </main>
  );
}

function ProjectLayout() {
  const { me, signOut } = useAuth();
  const projects = useProjects();
  const projectId = useProjectId();
  const navigate = useNavigate();
  const location = useLocation();
  const base = `/projects/${projectId}`;
  const known = projects.data?.some((p) => p.id === projectId);
  return (
    <div className="shell">
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <span className="brand">ReplayLink</span>
        <label className="project-pick">
          <span className="sr-only">Project</span>
          <select
            value={String(projectId)}
            onChange={(e) => navigate(location.pathname.replace(/^\/projects\/\d+/, `/projects/${e.target.value}`).replace(/\/sessions\/\d+$/, "/sessions"))}
          >
            {(projects.data ?? []).map((p) => (
              <option key={p.id} value={p.id}>
                {p.name}
              </option>
            ))}
          </select>
        </label>
        <nav aria-label="Main">
          <NavLink to={`${base}/sessions`}>Sessions</NavLink>
          <NavLink to={`${base}/errors`}>Backend errors</NavLink>
          <NavLink to={`${base}/preferences/integrations`}>Preferences</NavLink>
        </nav>
        <span className="who">{me?.user.email}</span>
        <button type="button" className="secondary" onClick={() => void signOut().then(() => navigate("/login"))}>
          Sign out
        </button>
      </header>
      {location.pathname.includes("/preferences/") ? (
        <nav className="subnav" aria-label="Preferences">
          <NavLink to={`${base}/preferences/integrations`}>Integrations</NavLink>
          <NavLink to={`${base}/preferences/project`}>Project</NavLink>
          {me?.user.is_admin ? <NavLink to={`${base}/preferences/api-keys`}>API keys</NavLink> : null}
          {me?.user.is_admin ? <NavLink to={`${base}/preferences/users`}>Users</NavLink> : null}
        </nav>
      ) : null}
      <main id="main" className="page" tabIndex={-1}>
        {projects.isSuccess && !known ? <p className="error-box">This project does not exist or you cannot see it.</p> : <Outlet />}
      </main>
    </div>
  );
}
