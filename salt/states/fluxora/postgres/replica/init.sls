# The replica's Patroni member (Patroni clones it from the leader and keeps it streaming), and
# roles and databases through it whenever it is the one that leads.
{%- from 'fluxora/postgres/map.jinja' import postgres, archiving %}
{%- from 'fluxora/postgres/member.jinja' import member %}
{%- from 'fluxora/postgres/roles.jinja' import roles %}
include:
  - fluxora.postgres.package
{%- if archiving %}
  - fluxora.walarchive
{%- endif %}
{%- if 'postgres-primary' in salt['pillar.get']('fluxora:roles', []) %}
  - fluxora.postgres.primary  # one host with both: the leader bootstraps first
{%- endif %}
{{ member('replica', postgres.replica) }}
{{ roles('replica', postgres.replica) }}
