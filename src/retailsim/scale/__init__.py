"""Scale out: run the shards on a Dask cluster, load datasets into PostgreSQL (issue: Scale out)."""
