{%- from 'fluxora/orchestrator/map.jinja' import orchestrator %}
{%- from 'fluxora/libs/service.jinja' import daemon %}
include:
  - .install
  - .config

fluxora-orchestrator-service-log-file-directory:
  file.directory:
    - name: {{ salt['file.dirname'](orchestrator.log) }}
    - user: {{ orchestrator.user }}
    - group: {{ orchestrator.group }}
    - makedirs: true
{{ daemon('fluxora-orchestrator', {
     'name': orchestrator.service,
     'description': 'Fluxora orchestrator (' ~ orchestrator.config.env ~ ')',
     'user': orchestrator.user, 'group': orchestrator.group,
     'workdir': orchestrator.config.data_dir, 'log': orchestrator.log,
     'exec': orchestrator.venv ~ '/bin/fluxora-orch', 'nofile': orchestrator.nofile,
     'args': ['run', '--config', orchestrator.config_file]},
   watch=[{'file': 'fluxora-orchestrator-config-file-serialize'},
          {'file': 'fluxora-orchestrator-config-backup-password-file-managed'},
          {'file': 'fluxora-orchestrator-config-patroni-password-file-managed'},
          {'fluxora_wheel': 'fluxora-orchestrator-install-fluxora_wheel-installed'}],
   require=[{'file': 'fluxora-orchestrator-config-data-file-directory'},
            {'file': 'fluxora-orchestrator-service-log-file-directory'}]) }}
