"""Build the importer of a process from its runtime."""

from __future__ import annotations

from replaylink.importer.poll import PollContext
from replaylink.importer.worker import Importer
from replaylink.runtime import Runtime


def poll_context(rt: Runtime) -> PollContext:
    return PollContext(
        sessions=rt.importer_sessions,
        settings=rt.settings,
        signer=rt.signer,
        vault=rt.vault,
        replay_store=rt.replay_store,
    )


def make_importer(rt: Runtime) -> Importer:
    return Importer(poll_context(rt))
