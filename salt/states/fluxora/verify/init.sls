{#- After a deploy, the deploy runbook applies this in the environment's saltenv: the health check
    of each of the host's roles (health.jinja, from the parameters the role's formula applies),
    and any checks pillar fluxora:verify:checks adds (role, or `all` for every host, -> checks;
    one named like a built-in replaces it). Each is a command that exits 0 when healthy. The same
    checks in every environment; a failing one fails the deploy's verification and rolls the
    environment back. Roles are the host's pillar roles (given by minion id), never its grains. #}
{%- set roles = salt['pillar.get']('fluxora:roles', []) %}
{%- from 'fluxora/verify/health.jinja' import builtin %}
{%- set extra = salt['pillar.get']('fluxora:verify:checks', {}) %}
{%- set found = [] %}
{%- for role in ['all'] + roles | sort %}
{%-   set checks = {} %}
{%-   for check in builtin.get(role, []) + extra.get(role, []) %}
{%-     do checks.update({check.name: check}) %}
{%-   endfor %}
{%-   for name, check in checks | dictsort %}
{%-     do found.append(name) %}
fluxora-verify-{{ role }}-{{ name }}-cmd-run:
  cmd.run:
    - name: {{ check.cmd | yaml_dquote }}
    - timeout: {{ check.get('timeout', 60) }}
{%-   endfor %}
{%- endfor %}
{%- if not found %}
fluxora-verify-no-checks-test-nop:
  test.nop:
    - name: this host has no role with a health check and pillar fluxora:verify:checks adds none
{%- endif %}
