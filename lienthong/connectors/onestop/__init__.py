"""Connector for the provincial one-stop system: dossier events in (webhook or its own topic), DVCQG
notices out (REST), and its sandbox simulator.

- `settings`: `OnestopSettings` (`LIENTHONG_ONESTOP_*`).
- `routes`: `router(publisher, settings)`, the webhook `POST /onestop/dossier-events`.
- `worker`: `build_onestop_delivery_flow` (`dossier.inbound` -> REST) and `build_onestop_topic_flow`
  (the system's own topic -> `dossier.events`).
- `client`: `OnestopClient`, the REST calls and their error taxonomy.
- `sandbox`: the simulated REST API (`create_onestop_sandbox`) and system of record (`OnestopSimulator`).
"""
