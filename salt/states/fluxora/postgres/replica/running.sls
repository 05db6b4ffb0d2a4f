{%- from 'fluxora/postgres/map.jinja' import postgres %}
{%- from 'fluxora/postgres/cluster.jinja' import running %}
include:
  - .config
{{ running('fluxora-postgres-replica', postgres.replica.cluster, {'cmd': 'fluxora-postgres-replica-clone-cmd-run'}) }}
