# Roles to states, per environment. A minion's grains fluxora:env and fluxora:roles are written
# in its minion config at bootstrap and kept equal to pillar fluxora:topology by fluxora.common;
# which hosts carry which roles in dev, staging and prod is in salt/pillar/fluxora/<env>.sls.
base:
  'G@fluxora:env:dev or G@fluxora:env:staging or G@fluxora:env:prod':
    - match: compound
    - fluxora.common
    - fluxora.monitoring.exporters.node
  'G@fluxora:roles:postgres-primary':
    - match: compound
    - fluxora.postgres.primary
    - fluxora.monitoring.exporters.postgres
  'G@fluxora:roles:postgres-replica':
    - match: compound
    - fluxora.postgres.replica
    - fluxora.monitoring.exporters.postgres
  'G@fluxora:roles:redis':
    - match: compound
    - fluxora.redis
  'G@fluxora:roles:monitoring':
    - match: compound
    - fluxora.monitoring.server
  'G@fluxora:roles:orchestrator':
    - match: compound
    - fluxora.orchestrator
  'G@fluxora:roles:cloud and ( G@fluxora:env:staging or G@fluxora:env:prod )':
    - match: compound
    - aws
