{%- from 'fluxora/orchestrator/map.jinja' import orchestrator %}
include:
  - fluxora.common.user

fluxora-orchestrator-config-data-file-directory:
  file.directory:
    - name: {{ orchestrator.config.data_dir }}
    - user: {{ orchestrator.user }}
    - group: {{ orchestrator.group }}
    - mode: '0750'
    - makedirs: true
    - require:
      - user: fluxora-common-user-user-present

fluxora-orchestrator-config-file-serialize:
  file.serialize:
    - name: {{ orchestrator.config_file }}
    - serializer: yaml
    - dataset: {{ orchestrator.config | json }}
    - user: root
    - group: {{ orchestrator.group }}
    - mode: '0640'
    - makedirs: true
    - require:
      - user: fluxora-common-user-user-present
