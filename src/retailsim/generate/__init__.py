"""The behavioural retail simulator."""

GENERATOR_VERSION = 3
"""Version of the generator's output: the same config and seed give the same bytes within one version, for any
worker count or executor; it goes up whenever a change alters them, and is recorded in ``manifest.json``.

1. retailsim 0.1.0 as first released.
2. One time-of-day stream (``times``) and one basket draw for card holders and anonymous shoppers together, in
   time order; ``shard_customers`` defaults to 5000 (was 2500). Departments are drawn by a binary search of
   the shopper's own cumulative preference row; units per line by the inverse CDF of a capped Poisson table
   (same distributions, other random numbers); the own-brand switch uses the line's second uniform.
   Anonymous shoppers draw no purchase rate, dropout rate or online share (unused: one in-store visit each),
   and a favourite's product only when a line first picks it. Unique keys and continuous measurements
   (``schema.Column.dictionary``) are written without a Parquet dictionary (the line items are unchanged).
3. The same rows in fewer, larger files: a task simulates ``shards_per_task`` consecutive shards (default 3;
   1 in the ``large`` preset) and writes them together, so ``part-NNNNN`` numbers tasks, not shards, and a
   file holds its shards one after another. Ordered integer keys and timestamps (``txn_id`` of headers and
   lines, ``txn_ts``) are delta-encoded (``schema.Column.encoding``) and floating-point measurements carry
   no Parquet statistics (``schema.TableSpec.statistics_columns``). Labelled defects are drawn per task.
"""
