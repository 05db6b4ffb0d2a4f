{%- from 'fluxora/monitoring/map.jinja' import monitoring %}
{%- from 'fluxora/libs/service.jinja' import daemon %}
{%- set node = monitoring.node_exporter %}

fluxora-monitoring-exporters-node-pkg-installed:
  pkg.installed:
    - name: {{ node.pkg }}
{{ daemon('fluxora-monitoring-exporters-node', {
     'name': node.service, 'description': 'Prometheus node exporter on ' ~ node.listen,
     'user': monitoring.user, 'group': monitoring.group, 'workdir': '/',
     'log': monitoring.log_dir ~ '/' ~ node.service ~ '.log', 'exec': node.exec,
     'args': ['--web.listen-address=' ~ node.listen]},
   require=[{'pkg': 'fluxora-monitoring-exporters-node-pkg-installed'}]) }}
