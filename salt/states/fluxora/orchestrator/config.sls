{%- from 'fluxora/orchestrator/map.jinja' import orchestrator %}
{%- from 'fluxora/postgres/map.jinja' import postgres %}
{%- do salt['fluxora.require'](postgres, ['backup:password', 'patroni:rest_password'],
      'fluxora:postgres') %}
include:
  - fluxora.common.user

fluxora-orchestrator-config-data-file-directory:
  file.directory:
    - name: {{ orchestrator.config.data_dir }}
    - user: {{ orchestrator.user }}
    - group: {{ orchestrator.group }}
    - mode: '0700'
    - makedirs: true
    - require:
      - user: fluxora-common-user-user-present

fluxora-orchestrator-config-file-serialize:
  file.serialize:
    - name: {{ orchestrator.config_file }}
    - serializer: yaml
    - dataset: {{ orchestrator.config | json }}
    - show_changes: false  # it holds the Alertmanager token (and any secret set in pillar)
    - user: root
    - group: {{ orchestrator.group }}
    - mode: '0640'
    - makedirs: true
    - require:
      - user: fluxora-common-user-user-present

{#- The backup user's password for the daemon's databases (their password_file). #}
fluxora-orchestrator-config-backup-password-file-managed:
  file.managed:
    - name: {{ orchestrator.backup_password_file }}
    - contents: {{ postgres.backup.password | json }}
    - show_changes: false
    - user: root
    - group: {{ orchestrator.group }}
    - mode: '0640'
    - makedirs: true
    - require:
      - user: fluxora-common-user-user-present

{#- Patroni's REST API password, sent with switchover and failover (the clusters' patroni
    password_file). #}
fluxora-orchestrator-config-patroni-password-file-managed:
  file.managed:
    - name: {{ orchestrator.patroni_password_file }}
    - contents: {{ postgres.patroni.rest_password | json }}
    - show_changes: false
    - user: root
    - group: {{ orchestrator.group }}
    - mode: '0640'
    - makedirs: true
    - require:
      - user: fluxora-common-user-user-present
