{%- from 'fluxora/walarchive/map.jinja' import walarchive %}
{#- Keys for the archive buckets come from the encrypted pillar of the postgres role; without
    them barman-cloud uses the host's own AWS credentials (instance profile). #}
{%- set has_keys = walarchive.get('aws_access_key_id') and walarchive.get('aws_secret_access_key') %}
{%- set config = {
      'server_name': walarchive.server_name, 'spool_dir': walarchive.spool_dir,
      'metrics_file': walarchive.metrics_file, 'max_spool_bytes': walarchive.max_spool_bytes,
      'retry_seconds': walarchive.retry_seconds, 'timeout_seconds': walarchive.timeout_seconds,
      'compression': walarchive.compression, 'destinations': walarchive.destinations,
      'switch_every_seconds': walarchive.switch_every_seconds, 'pg_host': walarchive.pg_host,
      'pg_port': walarchive.pg_port} %}
{%- if has_keys %}
{%-   do config.update({'aws_credentials_file': walarchive.credentials_file}) %}
{%- endif %}
include:
  - .package

fluxora-walarchive-config-file-serialize:
  file.serialize:
    - name: {{ walarchive.config }}
    - dataset: {{ config | json }}
    - serializer: json
    - user: root
    - group: {{ walarchive.group }}
    - mode: '0640'
    - makedirs: true

fluxora-walarchive-config-spool-file-directory:
  file.directory:
    - name: {{ walarchive.spool_dir }}
    - user: {{ walarchive.user }}
    - group: {{ walarchive.group }}
    - mode: '0700'
    - makedirs: true

fluxora-walarchive-config-metrics-file-directory:
  file.directory:
    - name: {{ salt['file.dirname'](walarchive.metrics_file) }}
    - group: {{ walarchive.group }}
    - mode: '0775'
    - makedirs: true
{%- if has_keys %}

fluxora-walarchive-config-credentials-file-managed:
  file.managed:
    - name: {{ walarchive.credentials_file }}
    - contents: |
        [default]
        aws_access_key_id = {{ walarchive.aws_access_key_id }}
        aws_secret_access_key = {{ walarchive.aws_secret_access_key }}
    - user: {{ walarchive.user }}
    - group: {{ walarchive.group }}
    - mode: '0600'
    - show_changes: false
{%- endif %}
