import { useEffect, useRef } from "react";
import { when } from "../format";

/** Requests a search that stopped at the server's time budget makes on its own (when the list
 * opens, and after each "Search further") before it waits for the user. */
export const ONWARD_REQUESTS = 8;

/** What {@link useSearchOnward} needs of an infinite query. */
interface Onward {
  stoppedShort: boolean;
  hasNextPage: boolean;
  isFetchingNextPage: boolean;
  isFetchNextPageError: boolean;
  fetchNextPage: () => unknown;
}

/** Goes on with a search that stopped short (its last answer has `searched_to`) for up to
 * {@link ONWARD_REQUESTS} requests after `key` changes or after the returned function is called
 * (the "Search further" button), until `found` grew by `wanted`. Returns that function. */
export function useSearchOnward(query: Onward, key: string, found: number, wanted: number): () => void {
  const round = useRef({ key, left: ONWARD_REQUESTS, from: 0 });
  if (round.current.key !== key) round.current = { key, left: ONWARD_REQUESTS, from: 0 };
  const { stoppedShort, hasNextPage, isFetchingNextPage, isFetchNextPageError, fetchNextPage } = query;
  useEffect(() => {
    const r = round.current;
    if (!stoppedShort || !hasNextPage || isFetchingNextPage || isFetchNextPageError) return;
    if (r.left <= 0 || found - r.from >= wanted) return;
    r.left -= 1;
    void fetchNextPage();
  }, [stoppedShort, hasNextPage, isFetchingNextPage, isFetchNextPageError, fetchNextPage, found, wanted]);
  return () => {
    round.current = { key, left: ONWARD_REQUESTS - 1, from: found };
    void fetchNextPage();
  };
}

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
