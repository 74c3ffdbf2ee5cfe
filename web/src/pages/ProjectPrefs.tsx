import { useState } from "react";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { api, type Project } from "../api";
import { useProjectId, useProjects } from "../App";
import { useAuth } from "../auth";
import { CodeBlock, CopyButton } from "../components/CopyButton";
import { ErrorBox } from "../components/EmptyState";
import { HEADER_LINES, MARKER_LINE, npmLines, PYTHON_LINES, trackerSnippet } from "../snippet";

export function ProjectPage() {
  const projectId = useProjectId();
  const projects = useProjects();
  const { me } = useAuth();
  const project = projects.data?.find((p) => p.id === projectId);
  if (!project) return <p className="loading">Loading…</p>;
  const server = window.location.origin;
  return (
    <>
      <h1>Preferences &gt; Project</h1>
      <section className="card" aria-labelledby="key-title">
        <h2 id="key-title">Project key</h2>
        <p>
          <code data-testid="project-key">{project.project_key}</code> <CopyButton text={project.project_key} label="Copy project key" />
        </p>
        <p className="hint">Public: the browser tracker sends it to start sessions. It is not a secret.</p>
      </section>
      <Origins project={project} editable={Boolean(me?.user.is_admin)} />
      <section className="card" aria-labelledby="snippet-title">
        <h2 id="snippet-title">Record sessions: the snippet</h2>
        <p>Paste it into the &lt;head&gt; of every page of your site.</p>
        <CodeBlock code={trackerSnippet(server, project.project_key)} label="tracker snippet" />
        <h3>Or with npm</h3>
        <CodeBlock code={npmLines(server, project.project_key)} label="npm install lines" />
      </section>
      <section className="card" aria-labelledby="backend-title">
        <h2 id="backend-title">Link backend errors</h2>
        <p>
          Send the session token to your backend in the <code>X-OpenReplay-SessionToken</code> header (allow it in your CORS{" "}
          <code>Access-Control-Allow-Headers</code>):
        </p>
        <CodeBlock code={HEADER_LINES} label="header lines" />
        <p>Then write it into each backend error log line, exactly like this (Sentry: the tag openReplaySessionToken):</p>
        <CodeBlock code={MARKER_LINE} label="log marker" />
        <p>The Python SDK does both in one line:</p>
        <CodeBlock code={PYTHON_LINES} label="Python SDK lines" />
      </section>
    </>
  );
}

function Origins({ project, editable }: { project: Project; editable: boolean }) {
  const qc = useQueryClient();
  const [text, setText] = useState((project.allowed_origins ?? []).join("\n"));
  const save = useMutation({
    mutationFn: () =>
      api<Project>(`/api/v1/projects/${project.id}`, {
        method: "PATCH",
        body: { allowed_origins: text.split(/\s+/).filter(Boolean) },
      }),
    onSuccess: () => qc.invalidateQueries({ queryKey: ["projects"] }),
  });
  return (
    <section className="card" aria-labelledby="origins-title">
      <h2 id="origins-title">Allowed origins</h2>
      <p className="hint">Sites that may record sessions for this project, one per line (https://shop.example.com). Empty: any site.</p>
      {editable ? (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            save.mutate();
          }}
        >
          <label htmlFor="origins" className="sr-only">
            Allowed origins
          </label>
          <textarea id="origins" rows={3} value={text} onChange={(e) => setText(e.target.value)} />
          <ErrorBox error={save.error} />
          {save.isSuccess ? <p role="status">Saved.</p> : null}
          <button type="submit" disabled={save.isPending}>
            Save origins
          </button>
        </form>
      ) : (
        <p>{project.allowed_origins?.length ? project.allowed_origins.join(", ") : "any origin"}</p>
      )}
    </section>
  );
}
