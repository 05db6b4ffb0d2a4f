{%- from 'fluxora/common/map.jinja' import common %}

fluxora-common-user-group-present:
  group.present:
    - name: {{ common.user.name }}
    - system: true

fluxora-common-user-user-present:
  user.present:
    - name: {{ common.user.name }}
    - gid: {{ common.user.name }}
    - home: {{ common.user.home }}
    - createhome: true
    - shell: {{ common.user.shell }}
    - system: true
    - require:
      - group: fluxora-common-user-group-present
