# Shared defaults for every environment. An environment file (dev.sls, staging.sls, prod.sls)
# holds only what differs; secrets are in secrets/<env>.sls as GPG blocks. Every key is
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
    backup: {user: fluxora_backup}
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

  # Orchestrator schedules and rules (read by the orchestrator core when its config grows
  # `schedules`/`rules` sections; kept here so pillar stays the single source of truth).
  schedules:
    backup-logical-nightly:
      cron: '15 2 * * *'
      event: fluxora/schedule/backup-logical-nightly
      data: {kind: logical}
    backup-physical-weekly:
      cron: '30 3 * * 0'
      event: fluxora/schedule/backup-physical-weekly
      data: {kind: physical}
    restore-verify-daily:
      cron: '0 6 * * *'
      event: fluxora/schedule/restore-verify-daily
      data: {}
    # The day-ahead forecast run (auction gate closure 12:00 CET): the worker group is pre-scaled
    # before it and scaled back to its baseline after; the settle steps continue a scale-in.
    forecast-window-prescale:
      cron: '30 8 * * *'
      event: fluxora/schedule/forecast-window-prescale
      data: {capacity: 4}
    forecast-window-scale-back:
      cron: '30 11 * * *'
      event: fluxora/schedule/forecast-window-scale-back
      data: {}
    forecast-scale-in-settle:
      interval: 10m
      event: fluxora/schedule/forecast-scale-in-settle
      data: {}
  # Rule templates are the orchestrator's Jinja, not pillar's: kept raw.
  {%- raw %}
  rules:
    backup-on-schedule:
      match: fluxora/schedule/backup-*
      run: backup
      with: {kind: '{{ event.data.kind }}'}
      dedup: {key: '{{ event.tag }}', window_seconds: 3600}
    replica-lag-rebuild:
      match: fluxora/alert/PostgresReplicationLagHigh/firing
      run: replica-rebuild
      cooldown_seconds: 1800
      lock: postgres-replica
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
