"""Prometheus metrics of replay ingest (served at ``GET /metrics`` with the importer's)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from replaylink.metrics import REGISTRY

BATCHES = Counter(
    "replaylink_replay_batches",
    "Batches received, by outcome (stored, duplicate, empty, or the error code).",
    ["outcome"],
    registry=REGISTRY,
)
BYTES = Counter("replaylink_replay_bytes_stored", "Compressed bytes stored.", registry=REGISTRY)
DEVTOOLS_IGNORED = Counter(
    "replaylink_replay_devtools_ignored",
    "Devtools events not indexed (kept in the blob), by reason: unknown_type, over_batch_limit.",
    ["reason"],
    registry=REGISTRY,
)
STAGE = Histogram(
    "replaylink_replay_stage_seconds",
    "Time per ingest stage: decode (gunzip + parse), read (session lookup), blob (store write), index.",
    ["stage"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
    registry=REGISTRY,
)
