# staging: a production-shaped copy at smaller size. Shared with prod in fleet.sls; here only
# its identity (names, addresses, zone) and its sizes, counts and windows.
fluxora:
  env: staging
  tags: {Environment: staging}
  # Each host's private address (Redis listens only there). stg-dr-db-1, in the DR region's
  # network, is the database server region-evacuation restores into.
  topology:
    hosts:
      stg-db-1: {roles: [postgres-primary, etcd], address: 10.20.1.11}
      stg-db-2: {roles: [postgres-replica, etcd], address: 10.20.1.12}
      stg-cache-1: {roles: [redis], address: 10.20.2.11}
      stg-ops-1: {roles: [monitoring, orchestrator, cloud, etcd], address: 10.20.3.11}
      stg-dr-db-1: {roles: [postgres-dr], address: 10.21.1.11}
  postgres:
    hba:
      replication_cidrs: [10.20.1.0/24]
      client_cidrs: [10.20.0.0/16]
  monitoring:
    targets:
      fluxora-orchestrator: ['stg-ops-1.internal.fluxora.example:8470']
      node:
        - stg-db-1.internal.fluxora.example:9100
        - stg-db-2.internal.fluxora.example:9100
        - stg-cache-1.internal.fluxora.example:9100
        - stg-ops-1.internal.fluxora.example:9100
      postgres:
        - stg-db-1.internal.fluxora.example:9187
        - stg-db-2.internal.fluxora.example:9187
      alertmanager: ['stg-ops-1.internal.fluxora.example:9093']

  aws:
    # The environment's VPC in each region: private subnets only (S3 through a gateway
    # endpoint); the hosts' topology addresses are in the first subnet.
    network:
      cidr: 10.20.0.0/16
      subnets:
        private-a: {zone: eu-west-1a, cidr: 10.20.0.0/20}
        private-b: {zone: eu-west-1b, cidr: 10.20.16.0/20}
    dr_network:
      cidr: 10.21.0.0/16
      subnets:
        private-a: {zone: eu-central-1a, cidr: 10.21.0.0/20}
        private-b: {zone: eu-central-1b, cidr: 10.21.16.0/20}
    buckets:
      # Backups expire after the longest retention keep (6 monthly backups: ~186 days).
      backups:
        name: fluxora-staging-backups
        dr_name: fluxora-staging-backups-dr
        lifecycle: {transition_days: 30, expire_days: 200, noncurrent_expire_days: 30}
      artifacts:
        name: fluxora-staging-artifacts
        dr_name: fluxora-staging-artifacts-dr
        lifecycle: {transition_days: 60, expire_days: 365, noncurrent_expire_days: 30}
    dns:
      zone: staging.fluxora.example.
      records:
        api:
          name: api.staging.fluxora.example.
          primary: {ip: 192.0.2.10}
          secondary: {ip: 198.51.100.10}
    groups:
      api: {instance_type: t3.small}
      worker: {instance_type: c6i.large}
    dr_groups:
      api: {instance_type: t3.small}
      worker: {instance_type: c6i.large}

  scaling:
    groups:
      api: {min: 1, max: 4, desired: 2, step_out: 1, step_in: 1, cooldown_seconds: 300,
            warmup_seconds: 120, scale_in_protection: false}
      worker: {min: 1, max: 6, desired: 2, step_out: 2, step_in: 1, cooldown_seconds: 300,
               warmup_seconds: 180, scale_in_protection: true,
               scale_in_protection_windows: ['08:30-11:30']}

  # Restore nightly; the planned failover weekly and its failback half an hour later.
  schedules:
    drill-restore: {cron: '30 4 * * *'}
    drill-failover: {cron: '0 5 * * tue'}
    drill-failback: {cron: '30 5 * * tue'}
    forecast-window-prescale:
      data: {capacity: 4}
