// Text the dashboard does not control (from tracked sites and log providers), shown so that its
// direction cannot leak: isolated in a <bdi> (its own direction from its first strong character,
// none given to or taken from the text around it), bidirectional controls shown as "⟨U+202E⟩".
import { bidiParts, truncate } from "../format";

interface Props {
  /** The original text (kept as is for copying and in the API: only its display changes). */
  text: string;
  /** Cut the text to this many characters (with "…"), before the controls are revealed. */
  max?: number;
  className?: string;
}

export function Untrusted({ text, max, className }: Props) {
  const shown = max === undefined ? text : truncate(text, max);
  return (
    <bdi className={className ? `untrusted ${className}` : "untrusted"}>
      {bidiParts(shown).map((part, i) =>
        "text" in part ? (
          part.text
        ) : (
          <span key={i} className="bidi-control" title={`Hidden direction control (${part.name}), shown and not applied`}>
            {part.marker}
          </span>
        ),
      )}
    </bdi>
  );
}
