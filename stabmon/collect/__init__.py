"""Collection from Prometheus: the client, the queries, the targets, the run.

prom (HTTP client, retries, chunked range queries), redact (the one
credential redaction), queries (the one set of PromQL templates), targets
(services, shards, batches, discovery), collector (answers to snapshots, for
one target or a batch), window, run (the catch-up-then-live loop: a
service is a fleet of one), capture (``stabmon baseline``).
"""
