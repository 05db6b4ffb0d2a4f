# prod: the production fleet. Only differences from defaults.sls are here.
fluxora:
  env: prod
  tags: {Environment: prod}
  # Each host's private address (Redis listens only there).
  topology:
    hosts:
      prd-db-1: {roles: [postgres-primary], address: 10.30.1.11}
      prd-db-2: {roles: [postgres-replica], address: 10.30.1.12}
      prd-cache-1: {roles: [redis], address: 10.30.2.11}
      prd-mon-1: {roles: [monitoring], address: 10.30.3.12}
      prd-ops-1: {roles: [orchestrator, cloud], address: 10.30.3.11}
  postgres:
    primary: {host: prd-db-1.internal.fluxora.example}
    hba:
      replication_cidrs: [10.30.1.0/24]
      client_cidrs: [10.30.0.0/16]
    wal: {wal_keep_size: 4GB}
    # Never a scratch database on a production primary: restore-verify uses
    # fluxora:orchestrator:config:backup:restore_targets:prod.
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
      env: prod
      data_dir: /var/lib/fluxora/orchestrator
      http: {listen: '0.0.0.0:8470'}
      shutdown_grace_seconds: 60
  deploy:
    health_timeout_seconds: 120

  aws:
    region: eu-west-1
    dr_region: eu-central-1
    # Who may assume fluxora-prod-deployer, the role `state.apply aws` runs as (aws.deployer).
    deployer:
      principals: ['arn:aws:iam::123456789012:role/fluxora-platform-admins']
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
        lifecycle: {transition_days: 30, storage_class: STANDARD_IA, expire_days: 400,
                    noncurrent_expire_days: 90}
      artifacts:
        name: fluxora-prod-artifacts
        dr_name: fluxora-prod-artifacts-dr
        lifecycle: {transition_days: 90, storage_class: STANDARD_IA, expire_days: 730,
                    noncurrent_expire_days: 90}
    dns:
      zone: fluxora.example.
      records:
        api:
          name: api.fluxora.example.
          primary: {ip: 203.0.113.10, health_path: /healthz}
          secondary: {ip: 203.0.113.110, health_path: /healthz}
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
        instance_type: m6i.large
        security_groups: [api]
      worker:
        image_id: ami-0fluxorawrk0001
        instance_type: c6i.2xlarge
        security_groups: [worker]

    # The DR region's pilot-light copies (fluxora-prod-<key>-dr, at 0 until region-evacuation
    # scales them to their scaling policy's `desired`): the DR region's AMI copies.
    dr_groups:
      api:
        image_id: ami-0fluxoraapidr001
        instance_type: m6i.large
      worker:
        image_id: ami-0fluxorawrkdr001
        instance_type: c6i.2xlarge

  scaling:
    groups:
      api: {min: 3, max: 12, desired: 3, step_out: 2, step_in: 1, cooldown_seconds: 300,
            warmup_seconds: 120, scale_in_protection: false, approval_step: 2}
      worker: {min: 2, max: 20, desired: 4, step_out: 4, step_in: 2, cooldown_seconds: 600,
               warmup_seconds: 300, scale_in_protection: true, approval_step: 4,
               scale_in_protection_windows: ['08:30-11:30']}

  # DR drills (rule drill-on-schedule): every prod drill waits for a person's approval
  # (`fluxora-orch approve JOB_ID`), so they are scheduled in working hours.
  schedules:
    drill-restore-weekly:
      cron: '0 10 * * mon'
      data:
        runbook: restore-drill
        params: {database: fluxora}
    drill-failover-monthly:
      cron: '0 10 1-7 * wed'
      data:
        runbook: postgres-failover
        params: {mode: planned}
    drill-failback-monthly:
      cron: '0 11 1-7 * wed'
      data: {runbook: postgres-failback}
    # The day-ahead forecast run (auction gate closure 12:00 CET): the worker group is pre-scaled
    # before it and scaled back to its baseline after; the settle steps continue a scale-in.
    # (dev has no Auto Scaling group, so no forecast-window schedules.)
    forecast-window-prescale:
      cron: '30 8 * * *'
      data: {capacity: 12}
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
