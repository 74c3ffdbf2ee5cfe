"""Provider throughput: records per second turned into ``Record`` objects from each peer.

Run: ``python -m bench.providers [--records N] [--only datadog,sentry,...]``.

Each provider pages through N token-carrying records on its local peer (the contract fakes for
Datadog, Sentry and Sumo Logic, moto for CloudWatch, osmem for OpenSearch) with the page size its
API allows (Datadog 1,000, Sentry 100, Sumo Logic 10,000, CloudWatch 1,000, OpenSearch 500).
The peers run on this machine, so the figures include their cost too: they are a floor for
ReplayLink's own throughput, not a prediction of a vendor's latency.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib

PROVIDERS = {
    "datadog": 20_000,
    "sumologic": 20_000,
    "cloudwatch": 20_000,
    "elasticsearch": 20_000,
    "sentry": 2_000,  # event bodies are read per issue (one request per issue and page): slower per record
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, help="records per provider (default: per provider)")
    parser.add_argument("--only", help="comma list of providers")
    args = parser.parse_args()
    names = args.only.split(",") if args.only else list(PROVIDERS)
    print(f"{'provider':<14} {'records':>8} {'seconds':>8} {'records/s':>10}")
    for name in names:
        module = importlib.import_module(f"bench.providers_{name}")
        result = asyncio.run(module.bench(args.records or PROVIDERS[name]))
        print(
            f"{name:<14} {int(result['records']):>8} {float(result['seconds']):>8.2f} "
            f"{float(result['records_per_s']):>10,.0f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
