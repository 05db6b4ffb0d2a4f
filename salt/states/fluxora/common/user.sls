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

{#- useradd leaves a home that already exists (a volume mounted there) to its old owner. #}
fluxora-common-user-home-file-directory:
  file.directory:
    - name: {{ common.user.home }}
    - user: {{ common.user.name }}
    - group: {{ common.user.name }}
    - mode: '0755'
    - require:
      - user: fluxora-common-user-user-present
