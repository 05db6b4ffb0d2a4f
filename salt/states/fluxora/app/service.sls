{%- from 'fluxora/app/map.jinja' import app %}
{%- from 'fluxora/libs/service.jinja' import daemon %}
include:
  - .config

fluxora-app-service-log-file-directory:
  file.directory:
    - name: {{ salt['file.dirname'](app.log) }}
    - user: {{ app.user }}
    - group: {{ app.group }}
    - makedirs: true
{{ daemon('fluxora-app', {
     'name': app.service,
     'description': 'Fluxora ' ~ app.role ~ ' health endpoint on port ' ~ app.health.port,
     'user': app.user, 'group': app.group, 'workdir': app.home ~ '/www', 'log': app.log,
     'exec': '/usr/bin/python3',
     'args': ['-m', 'http.server', app.health.port | string, '--bind', app.health.listen_address,
              '--directory', app.home ~ '/www']},
   watch=[{'file': 'fluxora-app-config-healthz-file-managed'}],
   require=[{'file': 'fluxora-app-service-log-file-directory'}]) }}
