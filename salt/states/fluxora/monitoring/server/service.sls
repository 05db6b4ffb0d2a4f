{%- from 'fluxora/monitoring/map.jinja' import monitoring %}
{%- from 'fluxora/libs/service.jinja' import daemon %}
{%- set dir = monitoring.config_dir %}
{%- set prom = monitoring.prometheus %}
{%- set am = monitoring.alertmanager %}
{%- set prom_watch = [{'file': 'fluxora-monitoring-server-config-prometheus-file-managed'},
                      {'file': 'fluxora-monitoring-server-config-rules-file-directory'}] %}
{#- Target files are not watched: Prometheus re-reads file_sd files by itself. #}
include:
  - .config
{{ daemon('fluxora-monitoring-server-prometheus', {
     'name': prom.service, 'description': 'Fluxora Prometheus on ' ~ prom.listen,
     'user': monitoring.user, 'group': monitoring.group, 'workdir': monitoring.data_dir,
     'log': monitoring.log_dir ~ '/' ~ prom.service ~ '.log', 'exec': prom.exec,
     'args': ['--config.file=' ~ dir ~ '/prometheus.yml',
              '--storage.tsdb.path=' ~ monitoring.data_dir ~ '/prometheus',
              '--storage.tsdb.retention.time=' ~ prom.retention,
              '--web.listen-address=' ~ prom.listen, '--web.enable-lifecycle']},
   watch=prom_watch) }}
{{ daemon('fluxora-monitoring-server-alertmanager', {
     'name': am.service, 'description': 'Fluxora Alertmanager on ' ~ am.listen,
     'user': monitoring.user, 'group': monitoring.group, 'workdir': monitoring.data_dir,
     'log': monitoring.log_dir ~ '/' ~ am.service ~ '.log', 'exec': am.exec,
     'args': ['--config.file=' ~ dir ~ '/alertmanager.yml',
              '--storage.path=' ~ monitoring.data_dir ~ '/alertmanager',
              '--web.listen-address=' ~ am.listen, '--cluster.listen-address=']},
   watch=[{'file': 'fluxora-monitoring-server-config-alertmanager-file-serialize'},
          {'file': 'fluxora-monitoring-server-config-token-file-managed'}]) }}
