"""Random streams keyed by identity (what is generated, which shard), never by worker or order.

Any worker count, or a Dask cluster, therefore produces byte-identical shards.
"""

from __future__ import annotations

import numpy as np

STREAMS: dict[str, int] = {
    "stores": 1,
    "products": 2,
    "promotions": 3,
    "customers": 10,
    "traits": 11,
    "visits": 12,
    "baskets": 13,
    "anonymous": 14,
    "welcome": 15,
    "times": 16,
    "defects": 20,
    "futures": 30,
}


def stream(seed: int, name: str, shard: int = 0) -> np.random.Generator:
    """Generator for stream ``name`` of shard ``shard`` under ``seed``."""
    ss = np.random.SeedSequence(seed, spawn_key=(STREAMS[name], shard))
    return np.random.Generator(np.random.PCG64(ss))
