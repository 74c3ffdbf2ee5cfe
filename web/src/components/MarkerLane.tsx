// The marker lane over the scrubber: one button per marker, coloured by kind, named by its title.
import { duration, isolateText, revealBidi } from "../format";
import { KIND_LABEL, type Marker } from "./markers";

interface Props {
  markers: Marker[];
  durationMs: number;
  currentMs: number;
  onSeekMarker: (marker: Marker) => void;
  onScrub: (ms: number) => void;
  providerLabel?: (name: string | null | undefined) => string;
}

export function MarkerLane({ markers, durationMs, currentMs, onSeekMarker, onScrub, providerLabel = (n) => n ?? "" }: Props) {
  const span = Math.max(1, durationMs);
  const place = (ms: number) => `${Math.min(100, Math.max(0, (ms / span) * 100))}%`;
  const lane = markers.filter((m) => m.kind !== "page" && m.kind !== "custom");
  return (
    <div className="timeline">
      <ol className="marker-lane" aria-label="Errors on the timeline">
        {lane.map((m) => {
          const where = m.outside ? (m.offsetMs < 0 ? "before the recording" : "after the recording") : duration(m.offsetMs);
          const who = m.kind === "backend" ? `${providerLabel(m.provider)} · ` : "";
          // The title is the page's or the provider's text: isolated in the tooltip, its controls shown.
          const tip = `${KIND_LABEL[m.kind]} · ${who}${where}: ${isolateText(m.title, 300)}`;
          return (
            <li key={m.id} style={{ left: place(m.offsetMs) }} className={`marker kind-${m.kind}${m.outside ? " outside" : ""}`}>
              <button type="button" aria-label={revealBidi(m.title)} title={tip} data-offset={m.offsetMs} data-kind={m.kind} onClick={() => onSeekMarker(m)}>
                <span className="sr-only">{tip}</span>
              </button>
            </li>
          );
        })}
      </ol>
      <input
        type="range"
        className="scrubber"
        aria-label="Playback position"
        aria-valuetext={`${duration(currentMs)} of ${duration(durationMs)}`}
        min={0}
        max={span}
        step={100}
        value={Math.min(span, Math.max(0, currentMs))}
        onChange={(e) => onScrub(Number(e.target.value))}
      />
    </div>
  );
}
