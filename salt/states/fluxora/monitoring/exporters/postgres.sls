{#- One postgres exporter per host, for the primary if this host has one, else the replica
    (postgres_exporter 0.11 answers HTTP 500 when one exporter scrapes two clusters: their
    metrics collide; the primary's pg_stat_replication already shows the replica's lag). It
    connects over the socket as the monitoring role: peer authentication, no password. #}
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
{%- set dsn = 'host=%s port=%s user=%s dbname=postgres sslmode=disable'
              | format(postgres.socket_dir, ports[0], postgres.monitor.user) %}

fluxora-monitoring-exporters-postgres-pkg-installed:
  pkg.installed:
    - name: {{ exporter.pkg }}
{{ daemon('fluxora-monitoring-exporters-postgres', {
     'name': exporter.service, 'description': 'Prometheus postgres exporter on ' ~ exporter.listen,
     'user': monitoring.user, 'group': monitoring.group, 'workdir': '/',
     'log': monitoring.log_dir ~ '/' ~ exporter.service ~ '.log', 'exec': exporter.exec,
     'env': {'DATA_SOURCE_NAME': dsn},
     'args': ['--web.listen-address=' ~ exporter.listen]},
   require=[{'pkg': 'fluxora-monitoring-exporters-postgres-pkg-installed'}]) }}
{%- else %}
{{ noop('fluxora-monitoring-exporters-postgres', 'no PostgreSQL role on this host') }}
{%- endif %}
