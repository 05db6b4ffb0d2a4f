# The shape staging and prod share (the pillar top file gives it to both, between defaults.sls
# and the environment's file): roles, regions, networks' layout, security groups, groups' images,
# schedules and the rules they fire. An environment's file holds only its identity (names,
# addresses, zone) and its sizes, counts and windows; tests/integration/salt/test_parity.py
# checks that nothing else differs.
fluxora:
  topology:
    # Hosts are reached at their topology `address`; DNS names are <host>.<domain>.
    domain: internal.fluxora.example
  orchestrator:
    config:
      data_dir: /var/lib/fluxora/orchestrator
      http: {listen: '0.0.0.0:8470'}
      # Deploys to prod apply only inside these windows (UTC; docs/OPERATIONS.md "Releasing and
      # promoting") and outside any change freeze declared beside them (`freezes: {prod:
      # [{start, end, reason}]}`): read by the daemon that deploys, on the Salt master.
      releases:
        windows:
          prod: ['sat 02:00-04:00', 'wed 22:00-01:00']

  aws:
    region: eu-west-1
    dr_region: eu-central-1
    # Who may assume fluxora-<env>-deployer, the role `state.apply aws` runs as (aws.deployer).
    deployer:
      principals: ['arn:aws:iam::123456789012:role/fluxora-platform-admins']
    buckets:
      backups:
        lifecycle: {storage_class: STANDARD_IA}
      artifacts:
        lifecycle: {storage_class: STANDARD_IA}
    dns:
      records:
        api:
          primary: {health_path: /healthz}
          secondary: {health_path: /healthz}
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
          - {port: 2379, to_port: 2380, cidr: vpc, description: etcd (Patroni's DCS) members}
          - {port: 8008, cidr: vpc, description: Patroni REST API (members and orchestrator)}
        egress:
          - {port: 5432, cidr: vpc, description: replication between the database hosts}
          - {port: 2379, to_port: 2380, cidr: vpc, description: etcd (Patroni's DCS) members}
          - {port: 8008, cidr: vpc, description: Patroni REST API of the other member}
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
          - {port: 2379, to_port: 2380, cidr: vpc, description: the ops host's etcd member}
        egress:
          - {port: 2379, to_port: 2380, cidr: vpc, description: etcd peers on the DB hosts}
          - {port: 8008, cidr: vpc, description: "Patroni REST API (switchover, drills)"}
          - {port: 443, cidr: 0.0.0.0/0, description: AWS APIs of Auto Scaling and Route53}
          - {port: 5432, cidr: vpc, description: PostgreSQL}
          - {port: 6379, cidr: vpc, description: Redis health checks}
          - {port: 9100, cidr: vpc, description: node exporters}
          - {port: 9187, cidr: vpc, description: PostgreSQL exporters}
          - {port: 4505, to_port: 4506, cidr: vpc, description: Salt master}
    groups:
      api:
        image_id: ami-0fluxoraapi0001
        security_groups: [api]
      worker:
        image_id: ami-0fluxorawrk0001
        security_groups: [worker]
    # The DR region's pilot-light copies (fluxora-<env>-<key>-dr, at 0 until region-evacuation
    # scales them to their scaling policy's `desired`): the DR region's AMI copies.
    dr_groups:
      api:
        image_id: ami-0fluxoraapidr001
      worker:
        image_id: ami-0fluxorawrkdr001

  # DR drills (rule drill-on-schedule): restore, a planned failover and its failback (one lock:
  # a failback never overlaps its failover; if the failover still runs, `fluxora-orch explain`
  # shows the failback blocked by the lock). Each environment's file sets the crons.
  schedules:
    drill-restore:
      data:
        runbook: restore-drill
        params: {database: fluxora}
    drill-failover:
      data:
        runbook: postgres-failover
        params: {mode: planned}
    drill-failback:
      data: {runbook: postgres-failback}
    # Base backups for point-in-time recovery (rule base-backup-on-schedule: the base-backup
    # runbook on the Patroni leader's host, into the WAL archive's bucket; backup.pitr.<env> is
    # rendered from fluxora:walarchive), daily: a restore replays at most a day of WAL.
    base-backup:
      cron: '45 1 * * *'
      data: {}
    # The day-ahead forecast run (auction gate closure 12:00 CET): the worker group is pre-scaled
    # before it (to the environment's capacity) and scaled back to its baseline after; the settle
    # steps continue a scale-in.
    forecast-window-prescale:
      cron: '30 8 * * *'
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
  # Rule templates are the orchestrator's Jinja, not pillar's: kept raw.
  {%- raw %}
  rules:
    # Scaling (dr_runbooks/scale-*.yaml) of the groups only staging and prod have. The orchestrator enforces each group's policy
    # (fluxora:scaling:groups); these rules only say when to ask. Keys are the orchestrator's.
    forecast-backlog-scale-out:
      match: fluxora/alert/FluxoraForecastQueueBacklog/firing
      when: event.data.labels.env == env
      run: scale-out
      with: {group: 'fluxora-{{ env }}-worker'}
    forecast-backlog-scale-in:
      match: fluxora/alert/FluxoraForecastQueueBacklog/resolved
      when: event.data.labels.env == env
      run: scale-in
      with: {group: 'fluxora-{{ env }}-worker'}
    forecast-scale-in-settle:
      match: fluxora/schedule/forecast-scale-in-settle
      run: scale-in
      with: {group: 'fluxora-{{ env }}-worker', follow: true}
    forecast-window-prescale:
      match: fluxora/schedule/forecast-window-prescale
      run: scale-to
      with: {group: 'fluxora-{{ env }}-worker', capacity: '{{ event.data.capacity }}'}
    forecast-window-scale-back:
      match: fluxora/schedule/forecast-window-scale-back
      run: scale-to
      with: {group: 'fluxora-{{ env }}-worker'}
    # The live security check (dr_runbooks/security-check.yaml), on staging's and prod's
    # `security-check` schedule.
    security-check-on-schedule:
      match: fluxora/schedule/security-check
      run: security-check  {%- endraw %}
