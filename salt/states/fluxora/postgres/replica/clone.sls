{#- Clone once: a data directory with standby.signal is a replica already. A running cluster
    without it is never wiped: the step fails instead. #}
{%- from 'fluxora/postgres/map.jinja' import postgres, ctl, conf_dir, data_dir %}
{%- set r = postgres.replica %}
{%- set data = data_dir(r.cluster) %}
include:
  - .cluster

fluxora-postgres-replica-clone-cmd-run:
  cmd.run:
    - name: |
        set -eu
        if {{ ctl }} {{ r.cluster }} status >/dev/null 2>&1; then
            echo "refusing to clone over running cluster {{ r.cluster }} (no standby.signal)" >&2
            exit 1
        fi
        find {{ data }} -mindepth 1 -delete
        runuser -u postgres -- env PGPASSFILE={{ conf_dir(r.cluster) }}/replication.pgpass \
            pg_basebackup -h {{ postgres.primary.host }} -p {{ postgres.primary.port }} \
            -U {{ postgres.replication.user }} -D {{ data }} -X stream -c fast \
            -S {{ postgres.replication.slot }} --no-password
        runuser -u postgres -- touch {{ data }}/standby.signal
    - creates: {{ data }}/standby.signal
    - require:
      - cmd: fluxora-postgres-replica-cluster-cmd-run
      - file: fluxora-postgres-replica-cluster-passfile-file-managed
