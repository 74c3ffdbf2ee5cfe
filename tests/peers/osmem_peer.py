"""osmem-server, the in-memory OpenSearch-compatible peer: start, seed, tear down.

One server per test module (``running_osmem``), one empty copy-on-write clone per test
(``fresh_cluster``), so tests never see each other's documents::

    with running_osmem() as server, fresh_cluster(server) as cluster:
        cluster.create_index("app-logs", KIBANA_LOGS_MAPPING)
        cluster.seed("app-logs", [{"message": "...", "utc_time": "2026-01-01T00:00:00Z"}])
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from osmem_server import OsmemServer

KIBANA_LOGS_MAPPING: dict[str, Any] = {
    "utc_time": {"type": "date"},
    "message": {"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 256}}},
    "tags": {"type": "keyword"},
}
"""The seed's field layout (Kibana's sample web logs): ``message``, ``utc_time``, ``tags``."""

ECS_LOGS_MAPPING: dict[str, Any] = {
    "@timestamp": {"type": "date"},
    "message": {"type": "text"},
    "log": {"properties": {"level": {"type": "keyword"}, "logger": {"type": "keyword"}}},
    "service": {"properties": {"name": {"type": "keyword"}}},
    "host": {"properties": {"name": {"type": "keyword"}}},
    "openReplaySessionToken": {"type": "keyword"},
}
"""An ECS JSON logger's layout, with the token as a field of its own."""


class OsmemCluster:
    """One empty osmem cluster (a clone) reached over HTTP."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.Client(base_url=url, timeout=30)

    def request(self, method: str, path: str, body: Any = None) -> Any:
        response = self.http.request(method, path, json=body)
        response.raise_for_status()
        return response.json()

    def create_index(self, index: str, properties: dict[str, Any]) -> None:
        self.request("PUT", f"/{index}", {"mappings": {"properties": properties}})

    def seed(self, index: str, docs: list[dict[str, Any]], chunk: int = 5000) -> list[str]:
        """Index ``docs`` (``_id`` taken from an ``"_id"`` key when present); return their ids."""
        ids: list[str] = []
        for start in range(0, len(docs), chunk):
            lines: list[str] = []
            for doc in docs[start : start + chunk]:
                source = dict(doc)
                action = {"_index": index, **({"_id": str(source.pop("_id"))} if "_id" in source else {})}
                lines += [json.dumps({"index": action}), json.dumps(source)]
            response = self.http.post(
                "/_bulk?refresh=true",
                content="\n".join(lines) + "\n",
                headers={"Content-Type": "application/x-ndjson"},
            )
            response.raise_for_status()
            answer = response.json()
            if answer.get("errors"):
                raise RuntimeError(f"osmem bulk failed: {json.dumps(answer)[:500]}")
            ids += [item["index"]["_id"] for item in answer["items"]]
        return ids

    def open_pits(self) -> list[str]:
        """Ids of the points in time still open (each test expects none left)."""
        return [pit["pit_id"] for pit in self.request("GET", "/_search/point_in_time/_all")["pits"]]

    def close(self) -> None:
        self.http.close()


@contextmanager
def running_osmem() -> Iterator[OsmemServer]:
    """An osmem-server on a free 127.0.0.1 port with an empty, frozen base."""
    server = OsmemServer.start(japanese=False, freeze=True, addr="127.0.0.1:0")
    try:
        yield server
    finally:
        server.close()


@contextmanager
def fresh_cluster(server: OsmemServer) -> Iterator[OsmemCluster]:
    """A new empty clone of ``server``'s base, deleted afterwards."""
    with server.clone() as clone:
        cluster = OsmemCluster(clone.url)
        try:
            yield cluster
        finally:
            cluster.close()
