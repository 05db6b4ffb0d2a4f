# Shared defaults for every environment. An environment file (dev.sls, staging.sls, prod.sls)
# holds only what differs; secrets are in secrets/<env>/<role>.sls as GPG blocks. Every key is
# documented in the pillar.example of the formula that reads it.
fluxora:
  tags:
    Project: fluxora
    Owner: platform-team
    CostCenter: cc-4100-forecasting
    ManagedBy: salt

  common:
    pkgs: [ca-certificates, curl, jq, zstd, gnupg]
    user: {name: fluxora, home: /var/lib/fluxora, shell: /usr/sbin/nologin}
    sysctl:
      config: /etc/sysctl.d/60-fluxora.conf
      settings:
        net.core.somaxconn: 4096
        vm.swappiness: 10
    timesync: {enabled: true}
    ssh:
      config: /etc/ssh/sshd_config.d/60-fluxora.conf
      settings:
        PermitRootLogin: 'no'
        PasswordAuthentication: 'no'
        KbdInteractiveAuthentication: 'no'
        X11Forwarding: 'no'
        MaxAuthTries: 3

  postgres:
    version: 15
    primary: {cluster: main, port: 5432, listen_addresses: '*'}
    replica: {cluster: main, port: 5432, listen_addresses: '*'}
    replication: {user: replicator, slot: fluxora_replica_1}
    # createdb: restore-verify restores into scratch databases on the source's own server.
    backup: {user: fluxora_backup, createdb: true}
    monitor: {user: prometheus}
    databases:
      fluxora: {owner: fluxora}
    wal:
      wal_level: replica
      max_wal_senders: 10
      max_replication_slots: 10
      wal_keep_size: 1GB
      hot_standby: 'on'
      wal_log_hints: 'on'

  redis:
    port: 6379
    bind: 127.0.0.1
    maxmemory: 256mb
    maxmemory_policy: allkeys-lru

  monitoring:
    prometheus: {listen: '127.0.0.1:9090', retention: 15d}
    alertmanager: {listen: '127.0.0.1:9093'}
    node_exporter: {listen: '127.0.0.1:9100'}
    postgres_exporter: {listen: '127.0.0.1:9187'}

  orchestrator:
    config:
      http: {listen: '127.0.0.1:8470'}
      shutdown_grace_seconds: 30

  # The orchestrator's schedules and rules, keyed by name (the fluxora.orchestrator state writes
  # them into the daemon's config as lists: orchestrator/sources/schedules.py and
  # orchestrator/rules/model.py are their schema). A schedule emits fluxora/schedule/<name>; a
  # backup or restore-verify schedule names its database and kind, which label its
  # fluxora_backup_interval_seconds / fluxora_restore_verify_interval_seconds gauge.
  schedules:
    backup-fluxora-logical:
      cron: '15 2 * * *'
      data: {database: fluxora, kind: logical}
    backup-fluxora-physical:
      cron: '30 3 * * 0'
      data: {database: fluxora, kind: physical}
    restore-verify-fluxora-logical:
      cron: '0 6 * * *'
      data: {database: fluxora, kind: logical}
  # Rule templates are the orchestrator's Jinja, not pillar's: kept raw.
  {%- raw %}
  rules:
    backup-on-schedule:
      match: fluxora/schedule/backup-*
      run: backup
      with: {database: '{{ event.data.database }}', kind: '{{ event.data.kind }}'}
      lock: 'backup-{{ event.data.database }}-{{ event.data.kind }}'
    restore-verify-on-schedule:
      match: fluxora/schedule/restore-verify-*
      run: restore-verify
      with: {database: '{{ event.data.database }}', kind: '{{ event.data.kind }}'}
      lock: 'restore-verify-{{ event.data.database }}'
    # A stale backup (FluxoraBackupStale, via Alertmanager) gets one immediate backup of that
    # database and kind, at most once an hour each.
    backup-when-stale:
      match: fluxora/alert/FluxoraBackupStale/firing
      when: 'event.data.labels.env == env'
      run: backup
      with: {database: '{{ event.data.labels.database }}', kind: '{{ event.data.labels.kind }}'}
      lock: 'backup-{{ event.data.labels.database }}-{{ event.data.labels.kind }}'
      cooldown: {window: 1h, key: '{{ event.data.labels.database }}-{{ event.data.labels.kind }}'}
    # DR drills on schedule (each environment's file lists its `drill-*` schedules, whose data
    # names the runbook and its params); in prod a person approves every drill. Every drill
    # holds the environment's DR lock dr/<env>: one at a time, and no scale-in while it runs.
    drill-on-schedule:
      match: fluxora/schedule/drill-*
      run: '{{ event.data.runbook }}'
      with: '{{ event.data.params | default({}) }}'
      lock: 'dr/{{ env }}'
      approval: {prod: true}
    # What `fluxora-orch runbook run NAME`, `backup`, `restore-verify` and `salt-run
    # fluxora.runbook name=NAME` send; the runbook's own approval policy applies (prod by
    # default). A request holds the lock it names (a backup's is the one its schedule takes),
    # else the environment's DR lock, as a scheduled drill does.
    runbook-request:
      match: fluxora/request/runbook/*
      when: 'event.data.params is defined'
      run: "{{ event.tag.split('/')[3] }}"
      env: '{{ event.data.env | default(env) }}'
      with: '{{ event.data.params }}'
      dry_run: '{{ event.data.dry_run | default(false) }}'
      lock: "{{ event.data.lock | default('dr/' ~ (event.data.env | default(env))) }}"
    # Scaling (dr_runbooks/scale-*.yaml). The orchestrator enforces each group's policy
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
      run: security-check
    scale-request-to:
      match: fluxora/request/scale/to
      run: scale-to
      env: '{{ event.data.env }}'
      with: {group: '{{ event.data.group }}', capacity: '{{ event.data.capacity }}'}
    scale-request-out:
      match: fluxora/request/scale/out
      run: scale-out
      env: '{{ event.data.env }}'
      with: {group: '{{ event.data.group }}', by: '{{ event.data.by }}'}
    scale-request-in:
      match: fluxora/request/scale/in
      run: scale-in
      env: '{{ event.data.env }}'
      with: {group: '{{ event.data.group }}', by: '{{ event.data.by }}'}
  {%- endraw %}

  deploy:
    batch: '1'
    health_timeout_seconds: 60
