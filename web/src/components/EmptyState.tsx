import type { ReactNode } from "react";
import { Untrusted } from "./Untrusted";

export function EmptyState({ title, children }: { title: string; children: ReactNode }) {
  return (
    <section className="empty" aria-label={title}>
      <h2>{title}</h2>
      {children}
    </section>
  );
}

export function ErrorBox({ error }: { error: unknown }) {
  if (!error) return null;
  return (
    <p className="error-box" role="alert">
      {/* The server's messages can quote what a provider or a tracked site sent. */}
      <Untrusted text={error instanceof Error ? error.message : String(error)} />
    </p>
  );
}
