"""Disaster recovery (issue 6).

- Drills on the executor's hooks: steady-state checks, stop conditions, RTO/RPO measured against
  the runbook's targets, and the drill metrics (`checks`, `measure`, `drills`, `schedules`,
  `docs`, `report`); `orchestrator.actions.dr` registers them with `build_hooks`.
- PostgreSQL (`postgres/`, `probe`): the topology of each environment's clusters, failover,
  fencing, promotion, client endpoints, rejoin, and the write probe that measures RTO/RPO;
  `orchestrator.actions.dr_postgres` registers the actions.
"""
