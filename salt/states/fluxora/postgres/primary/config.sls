{%- from 'fluxora/postgres/map.jinja' import postgres %}
{%- from 'fluxora/postgres/cluster.jinja' import config %}
{%- set p = postgres.primary %}
{%- set settings = dict(postgres.wal, port=p.port, listen_addresses=p.listen_addresses) %}
include:
  - .cluster
{{ config('fluxora-postgres-primary', p.cluster, settings, {'cmd': 'fluxora-postgres-primary-cluster-cmd-run'}) }}
