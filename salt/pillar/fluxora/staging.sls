# staging: a production-shaped copy at smaller size. Only differences from defaults.sls are here.
fluxora:
  env: staging
  tags: {Environment: staging}
  # Each host's private address (Redis listens only there).
  topology:
    hosts:
      stg-db-1: {roles: [postgres-primary], address: 10.20.1.11}
      stg-db-2: {roles: [postgres-replica], address: 10.20.1.12}
      stg-cache-1: {roles: [redis], address: 10.20.2.11}
      stg-ops-1: {roles: [monitoring, orchestrator, cloud], address: 10.20.3.11}
  postgres:
    primary: {host: stg-db-1.internal.fluxora.example}
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
  orchestrator:
    config:
      env: staging
      data_dir: /var/lib/fluxora/orchestrator
      http: {listen: '0.0.0.0:8470'}

  aws:
    region: eu-west-1
    dr_region: eu-central-1
    # Who may assume fluxora-staging-deployer, the role `state.apply aws` runs as (aws.deployer).
    deployer:
      principals: ['arn:aws:iam::123456789012:role/fluxora-platform-admins']
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
      backups:
        name: fluxora-staging-backups
        dr_name: fluxora-staging-backups-dr
        lifecycle: {transition_days: 30, storage_class: STANDARD_IA, expire_days: 90,
                    noncurrent_expire_days: 30}
      artifacts:
        name: fluxora-staging-artifacts
        dr_name: fluxora-staging-artifacts-dr
        lifecycle: {transition_days: 60, storage_class: STANDARD_IA, expire_days: 365,
                    noncurrent_expire_days: 30}
    dns:
      zone: staging.fluxora.example.
      records:
        api:
          name: api.staging.fluxora.example.
          primary: {ip: 192.0.2.10, health_path: /healthz}
          secondary: {ip: 198.51.100.10, health_path: /healthz}
    # Ingress and egress are all a group allows; `cidr: vpc` is the group's own VPC (each
    # group exists in the primary and the DR network). Instances reach S3 through the VPC's
    # gateway endpoint (prefix_list: s3) and the Salt master inside the VPC.
    security_groups:
      api:
        description: Fluxora API servers
        ingress:
          - {port: 443, cidr: 0.0.0.0/0, description: HTTPS from clients}
        egress: &app_egress
          - {port: 5432, cidr: vpc, description: PostgreSQL}
          - {port: 6379, cidr: vpc, description: Redis}
          - {port: 443, prefix_list: s3, description: S3 (artifacts)}
          - {port: 4505, to_port: 4506, cidr: vpc, description: Salt master}
      worker:
        description: Fluxora forecast workers (no inbound traffic)
        ingress: []
        egress: *app_egress
      db:
        description: Fluxora PostgreSQL
        ingress:
          - {port: 5432, source_group: api, description: PostgreSQL from the API}
          - {port: 5432, source_group: worker, description: PostgreSQL from workers}
          - {port: 5432, source_group: ops, description: backups and checks and drills}
          - {port: 5432, cidr: vpc, description: replication between the database hosts}
        egress:
          - {port: 5432, cidr: vpc, description: replication between the database hosts}
          - {port: 443, prefix_list: s3, description: S3 for the WAL archive and backups}
          - {port: 4505, to_port: 4506, cidr: vpc, description: Salt master}
      cache:
        description: Fluxora Redis
        ingress:
          - {port: 6379, source_group: api, description: Redis from the API}
          - {port: 6379, source_group: worker, description: Redis from workers}
          - {port: 6379, source_group: ops, description: Redis health checks}
        egress:
          - {port: 4505, to_port: 4506, cidr: vpc, description: Salt master}
      ops:
        description: Fluxora orchestrator and monitoring
        ingress:
          - {port: 8470, cidr: vpc, description: orchestrator webhooks from the VPC}
        egress:
          - {port: 443, cidr: 0.0.0.0/0, description: AWS APIs of Auto Scaling and Route53}
          - {port: 5432, cidr: vpc, description: PostgreSQL}
          - {port: 6379, cidr: vpc, description: Redis health checks}
          - {port: 9100, cidr: vpc, description: node exporters}
          - {port: 9187, cidr: vpc, description: PostgreSQL exporters}
          - {port: 4505, to_port: 4506, cidr: vpc, description: Salt master}
    groups:
      api:
        image_id: ami-0fluxoraapi0001
        instance_type: t3.small
        security_groups: [api]
      worker:
        image_id: ami-0fluxorawrk0001
        instance_type: c6i.large
        security_groups: [worker]

    # The DR region's pilot-light copies (fluxora-staging-<key>-dr, at 0 until region-evacuation
    # scales them to their scaling policy's `desired`): the DR region's AMI copies.
    dr_groups:
      api:
        image_id: ami-0fluxoraapidr001
        instance_type: t3.small
      worker:
        image_id: ami-0fluxorawrkdr001
        instance_type: c6i.large

  scaling:
    groups:
      api: {min: 1, max: 4, desired: 2, step_out: 1, step_in: 1, cooldown_seconds: 300,
            warmup_seconds: 120, scale_in_protection: false}
      worker: {min: 1, max: 6, desired: 2, step_out: 2, step_in: 1, cooldown_seconds: 300,
               warmup_seconds: 180, scale_in_protection: true,
               scale_in_protection_windows: ['08:30-11:30']}

  # DR drills (rule drill-on-schedule): restore nightly; a planned failover weekly and the
  # failback half an hour later (one lock: a failback never overlaps its failover; if the
  # failover still runs, `fluxora-orch explain` shows the failback blocked by the lock).
  schedules:
    drill-restore-nightly:
      cron: '30 4 * * *'
      data:
        runbook: restore-drill
        params: {database: fluxora}
    drill-failover-weekly:
      cron: '0 5 * * tue'
      data:
        runbook: postgres-failover
        params: {mode: planned}
    drill-failback-weekly:
      cron: '30 5 * * tue'
      data: {runbook: postgres-failback}
    # The day-ahead forecast run (auction gate closure 12:00 CET): the worker group is pre-scaled
    # before it and scaled back to its baseline after; the settle steps continue a scale-in.
    # (dev has no Auto Scaling group, so no forecast-window schedules.)
    forecast-window-prescale:
      cron: '30 8 * * *'
      data: {capacity: 4}
    forecast-window-scale-back:
      cron: '30 11 * * *'
      data: {}
    forecast-scale-in-settle:
      interval: 10m
      data: {}
    # The live cloud resources against the security rules, hourly (rule security-check-on-schedule).
    security-check:
      cron: '17 * * * *'
      data: {}
