# dev: one machine (minion id dev-1) carries every role; no AWS resources. Only differences from
# defaults.sls are here.
fluxora:
  env: dev
  tags: {Environment: dev}
  topology:
    hosts:
      dev-1:
        roles: [postgres-primary, postgres-replica, redis, monitoring, orchestrator]
  common:
    timesync: {enabled: false}  # a dev machine (VM or container) takes its time from the host
  postgres:
    # Both clusters on one machine, beside the distribution's own `main` on 5432.
    primary: {host: 127.0.0.1, cluster: fluxora_primary, port: 5433, listen_addresses: localhost}
    replica: {cluster: fluxora_replica, port: 5434, listen_addresses: localhost}
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
