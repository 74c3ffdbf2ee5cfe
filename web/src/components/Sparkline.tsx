// A tiny SVG bar chart of counts over time, with its numbers as the accessible name.
export function Sparkline({ counts, label }: { counts: number[]; label: string }) {
  const max = Math.max(1, ...counts);
  const w = 4;
  const h = 24;
  const total = counts.reduce((a, b) => a + b, 0);
  return (
    <svg className="sparkline" width={counts.length * w} height={h} viewBox={`0 0 ${counts.length * w} ${h}`} role="img" aria-label={`${label}: ${total} events`}>
      {counts.map((c, i) => {
        const bar = c ? Math.max(2, (c / max) * h) : 0;
        return <rect key={i} x={i * w} y={h - bar} width={w - 1} height={bar} />;
      })}
    </svg>
  );
}
