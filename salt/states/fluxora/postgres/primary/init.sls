# The designed leader's Patroni member (it bootstraps the cluster), then roles and databases
# through it while it leads.
{%- from 'fluxora/postgres/map.jinja' import postgres, archiving %}
{%- from 'fluxora/postgres/member.jinja' import member %}
{%- from 'fluxora/postgres/roles.jinja' import roles %}
include:
  - fluxora.postgres.package
{%- if archiving %}
  - fluxora.walarchive
{%- endif %}
{{ member('primary', postgres.primary) }}
{{ roles('primary', postgres.primary) }}
