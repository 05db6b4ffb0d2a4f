{%- from 'fluxora/postgres/map.jinja' import postgres, conf_dir %}
{%- set r = postgres.replica %}
include:
  - fluxora.postgres.package

fluxora-postgres-replica-cluster-cmd-run:
  cmd.run:
    - name: >-
        pg_createcluster {{ postgres.version }} {{ r.cluster }} --port {{ r.port }}
        -- --auth-local=peer --auth-host=scram-sha-256 --data-checksums
    - creates: {{ conf_dir(r.cluster) }}/postgresql.conf
    - require:
      - pkg: fluxora-postgres-package-pkg-installed

{#- The replication password, for pg_basebackup and the walreceiver (never on a command line). #}
fluxora-postgres-replica-cluster-passfile-file-managed:
  file.managed:
    - name: {{ conf_dir(r.cluster) }}/replication.pgpass
    - contents: "*:*:*:{{ postgres.replication.user }}:{{ postgres.replication.password }}"
    - show_changes: false
    - user: postgres
    - group: postgres
    - mode: '0600'
    - require:
      - cmd: fluxora-postgres-replica-cluster-cmd-run
