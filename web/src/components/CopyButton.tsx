import { useState } from "react";

export function CopyButton({ text, label }: { text: string; label: string }) {
  const [done, setDone] = useState<"idle" | "copied" | "failed">("idle");
  return (
    <button
      type="button"
      className="secondary small"
      onClick={async () => {
        try {
          await navigator.clipboard.writeText(text);
          setDone("copied");
        } catch {
          setDone("failed");
        }
        window.setTimeout(() => setDone("idle"), 2000);
      }}
    >
      {done === "copied" ? "Copied" : done === "failed" ? "Copy failed: select the text" : label}
    </button>
  );
}

export function CodeBlock({ code, label }: { code: string; label: string }) {
  return (
    <div className="code">
      <pre tabIndex={0} aria-label={label}>
        {code}
      </pre>
      <CopyButton text={code} label={`Copy ${label}`} />
    </div>
  );
}
