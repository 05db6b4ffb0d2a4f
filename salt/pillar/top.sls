{#- Pillar by identity: a minion's environment and roles come from its id, the one its key was
    accepted under (fluxora/identity.jinja: the topology files, and the names the Auto Scaling
    groups give their instances), never from a grain the minion sets itself. Every minion gets
    the shared defaults; a minion of an environment gets the shape staging and prod share
    (fleet.sls), its environment's file, its roles (identity.sls) and the GPG-encrypted secrets
    of its own roles only (secrets/<env>/<role>.sls; a role without secrets has no file). Any
    other id gets the defaults alone, and the master logs it. #}
{%- from 'fluxora/identity.jinja' import identity with context %}
{{ saltenv }}:
  '*':
    - fluxora.defaults
{%- if identity.env %}
  {{ identity.id | json }}:
    - match: list
{%-   if identity.env in ['staging', 'prod'] %}
    - fluxora.fleet
{%-   endif %}
    - fluxora.{{ identity.env }}
    - fluxora.identity
  {{ ('L@' ~ identity.id) | json }}:
    - match: compound
    - ignore_missing: true
{%-   for role in identity.roles %}
    - fluxora.secrets.{{ identity.env }}.{{ role }}
{%-   endfor %}
{%-   if identity.env == 'dev' %}
    # A developer's own ports and paths for a shared dev machine (git-ignored; the tests write one).
    - fluxora.local
{%-   endif %}
{%- else %}
{%-   do salt['log.warning']('minion id ' ~ identity.id ~ ' is in no environment\'s topology '
        ~ '(salt/pillar/fluxora/<env>.sls) and is no Auto Scaling instance of one '
        ~ '(fluxora-<env>-<group>[-dr]-<instance id>): it gets the defaults only') %}
{%- endif %}
