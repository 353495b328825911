"""`lienthong demo`: everything on loopback (broker, sandboxes, API, workers), a scripted workload, a summary.

`dossiers` drives the dossier flows (the default demo), `selftest` the bus self-test; `workload` makes the
synthetic dossiers both use, and `broker` starts or reuses the embedded Kafka.
"""
