{%- from 'fluxora/postgres/map.jinja' import postgres %}
{%- from 'fluxora/postgres/cluster.jinja' import running %}
include:
  - .config
{{ running('fluxora-postgres-primary', postgres.primary.cluster, {'cmd': 'fluxora-postgres-primary-cluster-cmd-run'}) }}
