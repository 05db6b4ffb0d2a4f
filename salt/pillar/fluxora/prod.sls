# prod: the production fleet. Shared with staging in fleet.sls; here only its identity (names,
# addresses, zone) and its sizes, counts and windows.
fluxora:
  env: prod
  tags: {Environment: prod}
  # Each host's private address (Redis listens only there). prd-restore-1 is the scratch server
  # restore-verify restores into (never a production server); prd-dr-db-1, in the DR region's
  # network, is the database server region-evacuation restores into.
  topology:
    hosts:
      prd-db-1: {roles: [postgres-primary, etcd], address: 10.30.1.11}
      prd-db-2: {roles: [postgres-replica, etcd], address: 10.30.1.12}
      prd-restore-1: {roles: [postgres-restore], address: 10.30.1.21}
      prd-cache-1: {roles: [redis], address: 10.30.2.11}
      prd-mon-1: {roles: [monitoring], address: 10.30.3.12}
      prd-ops-1: {roles: [orchestrator, cloud, etcd], address: 10.30.3.11}
      prd-dr-db-1: {roles: [postgres-dr], address: 10.31.1.11}
  postgres:
    hba:
      replication_cidrs: [10.30.1.0/24]
      client_cidrs: [10.30.0.0/16]
    wal: {wal_keep_size: 4GB}
    # Never a scratch database on a production primary: restore-verify restores into
    # prd-restore-1 (its own cluster allows it).
    backup: {createdb: false}
  redis: {maxmemory: 2gb}
  monitoring:
    prometheus: {retention: 30d}
    targets:
      fluxora-orchestrator: ['prd-ops-1.internal.fluxora.example:8470']
      node:
        - prd-db-1.internal.fluxora.example:9100
        - prd-db-2.internal.fluxora.example:9100
        - prd-cache-1.internal.fluxora.example:9100
        - prd-mon-1.internal.fluxora.example:9100
        - prd-ops-1.internal.fluxora.example:9100
      postgres:
        - prd-db-1.internal.fluxora.example:9187
        - prd-db-2.internal.fluxora.example:9187
      alertmanager: ['prd-mon-1.internal.fluxora.example:9093']
  orchestrator:
    config:
      shutdown_grace_seconds: 60
  deploy:
    health_timeout_seconds: 120

  aws:
    # The environment's VPC in each region: private subnets only (S3 through a gateway
    # endpoint); the hosts' topology addresses are in the first subnet.
    network:
      cidr: 10.30.0.0/16
      subnets:
        private-a: {zone: eu-west-1a, cidr: 10.30.0.0/20}
        private-b: {zone: eu-west-1b, cidr: 10.30.16.0/20}
        private-c: {zone: eu-west-1c, cidr: 10.30.32.0/20}
    dr_network:
      cidr: 10.31.0.0/16
      subnets:
        private-a: {zone: eu-central-1a, cidr: 10.31.0.0/20}
        private-b: {zone: eu-central-1b, cidr: 10.31.16.0/20}
        private-c: {zone: eu-central-1c, cidr: 10.31.32.0/20}
    buckets:
      backups:
        name: fluxora-prod-backups
        dr_name: fluxora-prod-backups-dr
        lifecycle: {transition_days: 30, expire_days: 400, noncurrent_expire_days: 90}
      artifacts:
        name: fluxora-prod-artifacts
        dr_name: fluxora-prod-artifacts-dr
        lifecycle: {transition_days: 90, expire_days: 730, noncurrent_expire_days: 90}
    dns:
      zone: fluxora.example.
      records:
        api:
          name: api.fluxora.example.
          primary: {ip: 203.0.113.10}
          secondary: {ip: 203.0.113.110}
    groups:
      api: {instance_type: m6i.large}
      worker: {instance_type: c6i.2xlarge}
    dr_groups:
      api: {instance_type: m6i.large}
      worker: {instance_type: c6i.2xlarge}

  scaling:
    groups:
      api: {min: 3, max: 12, desired: 3, step_out: 2, step_in: 1, cooldown_seconds: 300,
            warmup_seconds: 120, scale_in_protection: false, approval_step: 2}
      worker: {min: 2, max: 20, desired: 4, step_out: 4, step_in: 2, cooldown_seconds: 600,
               warmup_seconds: 300, scale_in_protection: true, approval_step: 4,
               scale_in_protection_windows: ['08:30-11:30']}

  # Every prod drill waits for a person's approval (`fluxora-orch approve JOB_ID`), so they are
  # scheduled in working hours: restore weekly, the failover and its failback monthly.
  schedules:
    drill-restore: {cron: '0 10 * * mon'}
    drill-failover: {cron: '0 10 1-7 * wed'}
    drill-failback: {cron: '0 11 1-7 * wed'}
    forecast-window-prescale:
      data: {capacity: 12}
