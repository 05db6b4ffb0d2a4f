{#- prometheus.yml and rules/*.rules.yml as they are in monitoring/; the file_sd target files and
    the orchestrator's bearer token from pillar; alertmanager.yml from monitoring/ with its
    orchestrator receiver pointed at this environment's orchestrator and token file. #}
{%- from 'fluxora/monitoring/map.jinja' import monitoring, env %}
{%- set dir = monitoring.config_dir %}
{%- set token_file = dir ~ '/secrets/orchestrator-token' %}
{%- set am = salt['cp.get_file_str'](monitoring.source ~ '/alertmanager/alertmanager.yml') | load_yaml %}
{%- for receiver in am.get('receivers', []) %}
{%- for hook in receiver.get('webhook_configs', []) if hook.get('url', '').endswith('/alertmanager') %}
{%- do hook.update({'url': monitoring.alertmanager.orchestrator_url}) %}
{%- do hook.setdefault('http_config', {}).setdefault('authorization', {}).update({'credentials_file': token_file}) %}
{%- endfor %}
{%- endfor %}
{%- set rules = salt['cp.list_master'](prefix=monitoring.source[7:] ~ '/prometheus/rules/')
      | select('match', '.*\\.rules\\.yml$') | sort %}
{#- One file_sd target file per file prometheus.yml reads (scrape jobs and alerting), each from
    pillar targets:<name>, or [] for a job with no host in this environment. #}
{%- set prom = salt['cp.get_file_str'](monitoring.source ~ '/prometheus/prometheus.yml') | load_yaml %}
{%- set sd_files = [] %}
{%- for section in prom.get('scrape_configs', []) + prom.get('alerting', {}).get('alertmanagers', []) %}
{%- for sd in section.get('file_sd_configs', []) %}{% do sd_files.extend(sd.files) %}{% endfor %}
{%- endfor %}
{%- set secret = salt['fluxora.require'](monitoring, ['orchestrator_token'], 'fluxora:monitoring') %}
include:
  - .package

fluxora-monitoring-server-config-dirs-file-directory:
  file.directory:
    - names:
      - {{ dir }}/rules
      - {{ dir }}/targets
      - {{ monitoring.data_dir }}/prometheus
      - {{ monitoring.data_dir }}/alertmanager
      - {{ monitoring.log_dir }}
    - user: {{ monitoring.user }}
    - group: {{ monitoring.group }}
    - mode: '0755'
    - makedirs: true
    - require:
      - pkg: fluxora-monitoring-server-package-pkg-installed

fluxora-monitoring-server-config-prometheus-file-managed:
  file.managed:
    - name: {{ dir }}/prometheus.yml
    - source: {{ monitoring.source }}/prometheus/prometheus.yml
    - mode: '0644'
    - require:
      - file: fluxora-monitoring-server-config-dirs-file-directory
{%- for path in rules %}

fluxora-monitoring-server-config-rule-{{ path.split('/')[-1] }}-file-managed:
  file.managed:
    - name: {{ dir }}/rules/{{ path.split('/')[-1] }}
    - source: salt://{{ path }}
    - mode: '0644'
    - require:
      - file: fluxora-monitoring-server-config-dirs-file-directory
{%- endfor %}

{#- Only the rule files listed above stay: a rule deleted from monitoring/ leaves Prometheus. #}
fluxora-monitoring-server-config-rules-file-directory:
  file.directory:
    - name: {{ dir }}/rules
    - clean: true
    - require:
{%- for path in rules %}
      - file: fluxora-monitoring-server-config-rule-{{ path.split('/')[-1] }}-file-managed
{%- else %}
      - file: fluxora-monitoring-server-config-dirs-file-directory
{%- endfor %}
{%- for file in sd_files | unique | sort %}
{%- set job = file.split('/')[-1][:-5] %}
{%- set targets = monitoring.targets.get(job, []) | sort %}
{%- set groups = [dict(targets=targets, labels=dict(env=env))] if targets else [] %}

fluxora-monitoring-server-config-target-{{ job }}-file-serialize:
  file.serialize:
    - name: {{ dir }}/{{ file }}
    - serializer: json
    - dataset: {{ groups | json }}
    - mode: '0644'
    - require:
      - file: fluxora-monitoring-server-config-dirs-file-directory
{%- endfor %}

fluxora-monitoring-server-config-token-file-managed:
  file.managed:
    - name: {{ token_file }}
    - contents: {{ monitoring.orchestrator_token | json }}
    - show_changes: false
    - makedirs: true
    - user: {{ monitoring.user }}
    - group: {{ monitoring.group }}
    - mode: '0400'
    - require:
      - pkg: fluxora-monitoring-server-package-pkg-installed

fluxora-monitoring-server-config-alertmanager-file-serialize:
  file.serialize:
    - name: {{ dir }}/alertmanager.yml
    - serializer: yaml
    - dataset: {{ am | json }}
    - mode: '0644'
    - require:
      - file: fluxora-monitoring-server-config-dirs-file-directory
