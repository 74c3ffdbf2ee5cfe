import { when } from "../format";

/** Under a session list whose text search stopped at its time budget (the answer's `searched_to`):
 * how far back it searched, and a button that goes on from there (the page's cursor). */
export function SearchProgress({ searchedTo, found, loading, onMore }: { searchedTo: string; found: number; loading: boolean; onMore: () => void }) {
  return (
    <p className="search-progress" role="status">
      {found ? null : "No match yet. "}
      Searched back to {when(searchedTo)} —{" "}
      <button type="button" className="secondary" disabled={loading} onClick={onMore}>
        {loading ? "Searching…" : "Search further"}
      </button>
    </p>
  );
}

/** A count as the API gives it: exact, or estimated from a sample (shown with "≈"). */
export function Count({ value, estimated }: { value: number; estimated?: boolean }) {
  return estimated ? <span title="Estimated from a sample of the events">≈ {value}</span> : <>{value}</>;
}
