{#- Grafana dashboards and provisioning from monitoring/grafana/, by glob, where pillar
    fluxora:monitoring:grafana:enabled (Grafana itself comes from Grafana's own apt repository,
    which Debian does not carry: installing it is left to the host's image). #}
{%- from 'fluxora/monitoring/map.jinja' import monitoring %}
{%- from 'fluxora/libs/noop.jinja' import noop %}
{%- set grafana = monitoring.grafana %}
{%- if grafana.enabled %}
{%- set source = monitoring.source[7:] ~ '/grafana/' %}
{%- set deploy = {} %}
{%- for path in salt['cp.list_master'](prefix=source) | sort %}
{%- set rel = path[source | length:] %}
{%- if rel is match('dashboards/[^/]+\\.json$') %}
{%- do deploy.update({path: grafana.dashboards_dir ~ '/' ~ rel.split('/')[-1]}) %}
{%- elif rel is match('provisioning/(datasources|dashboards)/[^/]+\\.ya?ml$') %}
{%- do deploy.update({path: grafana.provisioning_dir ~ '/' ~ rel[13:]}) %}
{%- endif %}
{%- endfor %}

fluxora-monitoring-server-grafana-dirs-file-directory:
  file.directory:
    - names:
      - {{ grafana.dashboards_dir }}
      - {{ grafana.provisioning_dir }}/datasources
      - {{ grafana.provisioning_dir }}/dashboards
    - makedirs: true
    - mode: '0755'
{%- for path, target in deploy | dictsort %}

fluxora-monitoring-server-grafana-{{ target.split('/')[-2:] | join('-') }}-file-managed:
  file.managed:
    - name: {{ target }}
    - source: salt://{{ path }}
    - mode: '0644'
    - require:
      - file: fluxora-monitoring-server-grafana-dirs-file-directory
{%- endfor %}
{%- else %}
{{ noop('fluxora-monitoring-server-grafana', 'Grafana files are not deployed here (fluxora:monitoring:grafana:enabled)') }}
{%- endif %}
