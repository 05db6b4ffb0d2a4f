{#- After a deploy, the deploy runbook applies this in the environment's saltenv: every health
    check of the host's roles (pillar fluxora:verify:checks, role `all` for every host), each a
    command that exits 0 when healthy. The same checks in every environment; a failing one
    fails the deploy's verification and rolls the environment back. #}
{%- set checks = salt['pillar.get']('fluxora:verify:checks', {}) %}
{%- set roles = ['all'] + salt['grains.get']('fluxora:roles', []) | sort %}
{%- for role in roles %}
{%-   for check in checks.get(role, []) | sort(attribute='name') %}
fluxora-verify-{{ role }}-{{ check.name }}-cmd-run:
  cmd.run:
    - name: {{ check.cmd | yaml_dquote }}
    - timeout: {{ check.get('timeout', 60) }}
{%-   endfor %}
{%- endfor %}
{%- if not checks %}
fluxora-verify-no-checks-test-nop:
  test.nop:
    - name: no health checks in pillar fluxora:verify:checks
{%- endif %}
