{#- Deploy one environment, component by component in dependency order:
      salt-run state.orchestrate orch.deploy pillar='{"env": "staging"}'
    Optional pillar: batch (hosts at a time, default "1"), health_timeout (seconds, default 60),
    only (a list of step names, e.g. ["orchestrator"], to redeploy just those, still in order).
    Each component is applied in batches, then health-checked on the same hosts
    (fluxora.health); the first failure stops the run (failhard) and salt-run exits non-zero. #}
{%- set env = pillar.get('env') %}
{%- set batch = pillar.get('batch', '1') | string %}
{%- set timeout = pillar.get('health_timeout', 60) %}
{%- if env not in ['dev', 'staging', 'prod'] %}

orch-deploy-env-test-fail_without_changes:
  test.fail_without_changes:
    - name: "pillar 'env' must be dev, staging or prod, got {{ env | string | replace('"', '') }}"
    - failhard: true
{%- else %}
{%- set in_env = 'I@fluxora:env:' ~ env %}
{#- Every role of top.sls, in dependency order: etcd before the Patroni members that use it,
    the designed leader before the replica it clones, the standalone servers (postgres-restore,
    postgres-dr: the primary's states) with it. A member's states include its WAL archiving. #}
{%- set leaders = 'I@fluxora:roles:postgres-primary or I@fluxora:roles:postgres-restore'
      ~ ' or I@fluxora:roles:postgres-dr' %}
{%- set steps = [
      ('common', in_env, ['fluxora.common', 'fluxora.monitoring.exporters.node']),
      ('etcd', in_env ~ ' and I@fluxora:roles:etcd', ['fluxora.etcd']),
      ('postgres-primary', in_env ~ ' and ( ' ~ leaders ~ ' )',
       ['fluxora.postgres.primary', 'fluxora.monitoring.exporters.postgres']),
      ('postgres-replica', in_env ~ ' and I@fluxora:roles:postgres-replica',
       ['fluxora.postgres.replica', 'fluxora.monitoring.exporters.postgres']),
      ('redis', in_env ~ ' and I@fluxora:roles:redis', ['fluxora.redis']),
      ('monitoring', in_env ~ ' and I@fluxora:roles:monitoring', ['fluxora.monitoring.server']),
      ('orchestrator', in_env ~ ' and I@fluxora:roles:orchestrator', ['fluxora.orchestrator']),
    ] %}
{%- if env != 'dev' %}
{%- do steps.append(('cloud', in_env ~ ' and I@fluxora:roles:cloud', ['aws'])) %}
{%- endif %}
{%- set only = pillar.get('only') or steps | map(attribute=0) | list %}

orch-deploy-sync-salt-function:
  salt.function:
    - name: saltutil.sync_all
    - tgt: '{{ in_env }}'
    - tgt_type: compound
    - failhard: true
{%- set previous = 'orch-deploy-sync-salt-function' %}
{%- for name, tgt, sls in steps if name in only %}

orch-deploy-{{ name }}-salt-state:
  salt.state:
    - tgt: '{{ tgt }}'
    - tgt_type: compound
    - sls: {{ sls | json }}
    - batch: '{{ batch }}'
    - failhard: true
    - require:
      - salt: {{ previous }}

orch-deploy-{{ name }}-health-salt-function:
  salt.function:
    - name: fluxora.health
    - tgt: '{{ tgt }}'
    - tgt_type: compound
    - arg: ['{{ name }}']
    - kwarg: {timeout: {{ timeout }}}
    - failhard: true
    - require:
      - salt: orch-deploy-{{ name }}-salt-state
{%- set previous = 'orch-deploy-' ~ name ~ '-health-salt-function' %}
{%- endfor %}
{%- endif %}
