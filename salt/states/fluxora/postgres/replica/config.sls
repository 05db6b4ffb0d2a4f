{%- from 'fluxora/postgres/map.jinja' import postgres, conf_dir %}
{%- from 'fluxora/postgres/cluster.jinja' import config %}
{%- set r = postgres.replica %}
{%- set conninfo = 'host=%s port=%s user=%s passfile=%s/replication.pgpass application_name=%s'
      | format(postgres.primary.host, postgres.primary.port, postgres.replication.user,
               conf_dir(r.cluster), r.cluster) %}
{%- set settings = dict(postgres.wal, port=r.port, listen_addresses=r.listen_addresses,
                        primary_conninfo=conninfo,
                        primary_slot_name=postgres.replication.slot) %}
include:
  - .clone
{{ config('fluxora-postgres-replica', r.cluster, settings, {'cmd': 'fluxora-postgres-replica-clone-cmd-run'}) }}
