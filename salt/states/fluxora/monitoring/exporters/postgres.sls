{#- One postgres exporter for the clusters on this host; it connects over the socket as the
    monitoring role (peer authentication: the OS user is the role, no password). #}
{%- from 'fluxora/monitoring/map.jinja' import monitoring, roles %}
{%- from 'fluxora/postgres/map.jinja' import postgres %}
{%- from 'fluxora/libs/service.jinja' import daemon %}
{%- from 'fluxora/libs/noop.jinja' import noop %}
{%- set exporter = monitoring.postgres_exporter %}
{%- set ports = [] %}
{%- for role, cluster in [('postgres-primary', postgres.primary), ('postgres-replica', postgres.replica)] %}
{%- if role in roles %}{% do ports.append(cluster.port) %}{% endif %}
{%- endfor %}
{%- if ports %}
{%- set dsn = [] %}
{%- for port in ports %}
{%- do dsn.append('host=%s port=%s user=%s dbname=postgres sslmode=disable'
                  | format(postgres.socket_dir, port, postgres.monitor.user)) %}
{%- endfor %}

fluxora-monitoring-exporters-postgres-pkg-installed:
  pkg.installed:
    - name: {{ exporter.pkg }}
{{ daemon('fluxora-monitoring-exporters-postgres', {
     'name': exporter.service, 'description': 'Prometheus postgres exporter on ' ~ exporter.listen,
     'user': monitoring.user, 'group': monitoring.group, 'workdir': '/',
     'log': monitoring.log_dir ~ '/' ~ exporter.service ~ '.log', 'exec': exporter.exec,
     'env': {'DATA_SOURCE_NAME': dsn | join(',')},
     'args': ['--web.listen-address=' ~ exporter.listen]},
   require=[{'pkg': 'fluxora-monitoring-exporters-postgres-pkg-installed'}]) }}
{%- else %}
{{ noop('fluxora-monitoring-exporters-postgres', 'no PostgreSQL role on this host') }}
{%- endif %}
