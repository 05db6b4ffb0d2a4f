{#- Run a backup with the orchestrator of one environment:
      salt-run state.orchestrate orch.backup pillar='{"env": "prod", "kind": "physical"}'
    Optional pillar: database (one database, default all), kind (logical | physical, default
    logical). It runs `fluxora-orch backup --env E [--database D] --kind K` on the environment's
    orchestrator host (fluxora.cli finds the binary and config file from that host's pillar);
    the command's exit code is the run's result. #}
{%- set env = pillar.get('env') %}
{%- set kind = pillar.get('kind', 'logical') %}
{%- set database = pillar.get('database') %}
{%- if env not in ['dev', 'staging', 'prod'] or kind not in ['logical', 'physical'] %}

orch-backup-args-test-fail_without_changes:
  test.fail_without_changes:
    - name: "pillar 'env' must be dev, staging or prod and 'kind' logical or physical"
    - failhard: true
{%- else %}
{%- set args = ['backup', '--env', env, '--kind', kind] %}
{%- if database %}{% do args.extend(['--database', database]) %}{% endif %}

orch-backup-run-salt-function:
  salt.function:
    - name: fluxora.cli
    - tgt: 'I@fluxora:env:{{ env }} and I@fluxora:roles:orchestrator'
    - tgt_type: compound
    - arg: [{{ args | json }}]
    - failhard: true
{%- endif %}
