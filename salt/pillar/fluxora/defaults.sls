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
    # Patroni members: the host with the role runs the member (member names: the env files).
    primary: {cluster: main, port: 5432, rest_port: 8008, listen_addresses: '*'}
    replica: {cluster: main, port: 5432, rest_port: 8008, listen_addresses: '*'}
    replication: {user: replicator}
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

  # Continuous WAL archiving (fluxora.walarchive, staging and prod). fluxora.postgres and the
  # Patroni config put postgres_parameters into PostgreSQL: the one place the command is named.
  walarchive:
    archive_command: /usr/local/bin/fluxora-wal-archive %p
    postgres_parameters:
      archive_mode: 'on'
      archive_command: /usr/local/bin/fluxora-wal-archive %p
      archive_timeout: 10s  # bounds the region-loss RPO (target 15 s; bench.pitr)

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
    # The release of fluxora-orch every environment runs (the wheel's version, pyproject.toml).
    version: 0.1.0
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
  # Rule templates are the orchestrator's Jinja, not pillar's: kept raw. Locks are declared
  # by the runbooks (backup-<database>-<kind>, restore-verify/<env>, dr/<env>); a rule's
  # lock applies only to a runbook that declares none, and is refused on a rule whose runbook
  # declares one.
  {%- raw %}
  rules:
    backup-on-schedule:
      match: fluxora/schedule/backup-*
      run: backup
      with: {database: '{{ event.data.database }}', kind: '{{ event.data.kind }}'}
    # Base backups for point-in-time recovery, where backup.pitr.<env> is configured.
    base-backup-on-schedule:
      match: fluxora/schedule/base-backup*
      run: base-backup
    restore-verify-on-schedule:
      match: fluxora/schedule/restore-verify-*
      run: restore-verify
      with: {database: '{{ event.data.database }}', kind: '{{ event.data.kind }}'}
    # A stale backup (FluxoraBackupStale, via Alertmanager) gets one immediate backup of that
    # database and kind, at most once an hour each.
    backup-when-stale:
      match: fluxora/alert/FluxoraBackupStale/firing
      when: 'event.data.labels.env == env'
      run: backup
      with: {database: '{{ event.data.labels.database }}', kind: '{{ event.data.labels.kind }}'}
      cooldown: {window: 1h, key: '{{ event.data.labels.database }}-{{ event.data.labels.kind }}'}
    # DR drills on schedule (each environment's file lists its `drill-*` schedules, whose data
    # names the runbook and its params); in prod a person approves every drill. Every drill
    # runbook declares the environment's DR lock dr/<env>: one at a time, and no scale-in
    # while it runs.
    drill-on-schedule:
      match: fluxora/schedule/drill-*
      run: '{{ event.data.runbook }}'
      with: '{{ event.data.params | default({}) }}'
      approval: {prod: true}
    # What `fluxora-orch runbook run NAME`, `backup`, `restore-verify` and `salt-run
    # fluxora.runbook name=NAME` send; the runbook's own approval policy applies (prod by
    # default) and its lock; a runbook that declares none (scale-*, security-check) holds
    # the lock the request names, else the environment's DR lock.
    runbook-request:
      match: fluxora/request/runbook/*
      when: 'event.data.params is defined'
      run: "{{ event.tag.split('/')[3] }}"
      env: '{{ event.data.env | default(env) }}'
      with: '{{ event.data.params }}'
      dry_run: '{{ event.data.dry_run | default(false) }}'
      lock: "{{ event.data.lock | default('dr/' ~ (event.data.env | default(env))) }}"
    # A new release (`fluxora-orch release build` announces it) is deployed to dev at once;
    # staging and prod are deployed by a person (`fluxora-orch deploy apply`).
    deploy-dev-on-release:
      match: fluxora/release/built
      run: deploy
      env: dev
      with: {release: '{{ event.data.version }}'}
    # Requests to scale a group (`fluxora-orch scale`); the orchestrator enforces each group's
    # policy (fluxora:scaling:groups). The scaling rules that fire by themselves are in fleet.sls.
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
