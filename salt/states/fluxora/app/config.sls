{%- from 'fluxora/app/map.jinja' import app %}
include:
  - fluxora.common.user

fluxora-app-config-www-file-directory:
  file.directory:
    - name: {{ app.home }}/www
    - user: {{ app.user }}
    - group: {{ app.group }}
    - makedirs: true
    - require:
      - user: fluxora-common-user-user-present

fluxora-app-config-healthz-file-managed:
  file.managed:
    - name: {{ app.home }}/www/healthz
    - contents: {{ (app.role ~ ' ok') | json }}
    - user: {{ app.user }}
    - group: {{ app.group }}
    - mode: '0644'
    - require:
      - file: fluxora-app-config-www-file-directory
