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
  {%- endraw %}

  deploy:
    batch: '1'
    health_timeout_seconds: 60
