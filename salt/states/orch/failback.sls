{#- Rebuild the old primary and switch back (runbook postgres-failback):
      salt-run state.orchestrate orch.failback pillar='{"env": "staging"}'
    Pillar: env; optional dry_run, params. #}
{%- from 'orch/runbook.jinja' import run_runbook with context %}
{{- run_runbook('failback', 'postgres-failback') }}
