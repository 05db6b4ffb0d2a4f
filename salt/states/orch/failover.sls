{#- Fail PostgreSQL over to the replica in one environment (runbook postgres-failover):
      salt-run state.orchestrate orch.failover pillar='{"env": "staging"}'
    Pillar: env; optional dry_run, params (see the runbook's page in dr_runbooks/docs/). #}
{%- from 'orch/runbook.jinja' import run_runbook with context %}
{{- run_runbook('failover', 'postgres-failover') }}
