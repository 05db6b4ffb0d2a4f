# dev: one machine (minion id dev-1) carries every role; no AWS resources. Only differences from
# defaults.sls are here.
fluxora:
  env: dev
  tags: {Environment: dev}
  topology:
    hosts:
      dev-1:
        roles: [postgres-primary, postgres-replica, etcd, redis, monitoring, orchestrator]
  common:
    timesync: {enabled: false}  # a dev machine (VM or container) takes its time from the host
  postgres:
    # Both Patroni members on one machine, beside the distribution's own `main` on 5432.
    primary: {member: fluxora-a, host: 127.0.0.1, cluster: fluxora_primary, port: 5433,
              rest_port: 8008, listen_addresses: 127.0.0.1}
    replica: {member: fluxora-b, host: 127.0.0.1, cluster: fluxora_replica, port: 5434,
              rest_port: 8009, listen_addresses: 127.0.0.1}
    hba:
      replication_cidrs: [127.0.0.1/32]
      client_cidrs: [127.0.0.1/32]
  redis: {port: 6380}
  monitoring:
    targets:
      fluxora-orchestrator: ['127.0.0.1:8470']
      node: ['127.0.0.1:9100']
      postgres: ['127.0.0.1:9187']
      alertmanager: ['127.0.0.1:9093']
  orchestrator:
    config:
      env: dev
      data_dir: /var/lib/fluxora/orchestrator
  schedules:
    drill-restore-nightly:
      cron: '30 4 * * *'
      data:
        runbook: restore-drill
        params: {database: fluxora}
