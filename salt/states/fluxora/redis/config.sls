{%- from 'fluxora/redis/map.jinja' import redis %}
include:
  - .package

fluxora-redis-config-data-file-directory:
  file.directory:
    - name: {{ redis.data_dir }}
    - user: {{ redis.user }}
    - group: {{ redis.group }}
    - mode: '0750'
    - makedirs: true
    - require:
      - pkg: fluxora-redis-package-pkg-installed

fluxora-redis-config-file-managed:
  file.managed:
    - name: {{ redis.config }}
    - source: salt://fluxora/redis/files/redis.conf.jinja
    - template: jinja
    - context:
        redis: {{ redis | json }}
    - user: root
    - group: {{ redis.group }}
    - mode: '0640'
    - makedirs: true
    - require:
      - pkg: fluxora-redis-package-pkg-installed
