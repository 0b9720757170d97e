"""Fan-out of simulation and generation: shards, seeds and backends."""
