# Roles to states, per environment, targeted by pillar: fluxora:env and fluxora:roles come from
# the minion's id (salt/pillar/top.sls, fluxora/identity.jinja), never from the grains a minion
# sets itself. Which hosts carry which roles in dev, staging and prod is in
# salt/pillar/fluxora/<env>.sls; an Auto Scaling instance has the role of its group (api, worker).
{{ saltenv }}:
  'I@fluxora:env:dev or I@fluxora:env:staging or I@fluxora:env:prod':
    - match: compound
    - fluxora.common
    - fluxora.monitoring.exporters.node
  'I@fluxora:roles:etcd':
    - match: compound
    - fluxora.etcd
  # A scratch restore server (postgres-restore) and the DR region's database server
  # (postgres-dr) are standalone clusters: the primary's states, as a one-member Patroni
  # cluster of their own (Patroni's raft DCS on the host itself, no etcd).
  'I@fluxora:roles:postgres-primary or I@fluxora:roles:postgres-restore or I@fluxora:roles:postgres-dr':
    - match: compound
    - fluxora.postgres.primary
    - fluxora.monitoring.exporters.postgres
  'I@fluxora:roles:postgres-replica':
    - match: compound
    - fluxora.postgres.replica
    - fluxora.monitoring.exporters.postgres
  # WAL archiving wherever PostgreSQL may become the leader (dev has no buckets).
  '( I@fluxora:roles:postgres-primary or I@fluxora:roles:postgres-replica ) and ( I@fluxora:env:staging or I@fluxora:env:prod )':
    - match: compound
    - fluxora.walarchive
  'I@fluxora:roles:redis':
    - match: compound
    - fluxora.redis
  'I@fluxora:roles:monitoring':
    - match: compound
    - fluxora.monitoring.server
  # Instances the Auto Scaling groups launch (not in topology: the role of the group their id
  # names, fluxora-<env>-<group>[-dr]-<instance id>).
  'I@fluxora:roles:api or I@fluxora:roles:worker':
    - match: compound
    - fluxora.app
  'I@fluxora:roles:orchestrator':
    - match: compound
    - fluxora.orchestrator
  'I@fluxora:roles:cloud and ( I@fluxora:env:staging or I@fluxora:env:prod )':
    - match: compound
    - aws
