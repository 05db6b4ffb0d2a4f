{#- Run any DR runbook as a drill (default restore-drill):
      salt-run state.orchestrate orch.dr_drill pillar='{"env": "dev", "runbook": "restore-drill"}'
    Pillar: env, runbook; optional dry_run, params. #}
{%- from 'orch/runbook.jinja' import run_runbook with context %}
{{- run_runbook('dr_drill', pillar.get('runbook', 'restore-drill')) }}
