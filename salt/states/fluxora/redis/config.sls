{%- from 'fluxora/redis/map.jinja' import redis %}
{%- set secrets = salt['fluxora.require'](redis, ['password', 'monitor_password'], 'fluxora:redis') %}
{#- The config holds only SHA-256 hashes of the passwords (Redis ACL `#<hash>`). #}
{%- set hashes = {'app': secrets.password | sha256, 'monitor': secrets.monitor_password | sha256} %}
{%- set public = {} %}
{%- for key, value in redis | dictsort if not key.endswith('password') %}
{%-   do public.update({key: value}) %}
{%- endfor %}
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
        redis: {{ public | json }}
        hashes: {{ hashes | json }}
    - user: root
    - group: {{ redis.group }}
    - mode: '0640'
    - makedirs: true
    - require:
      - pkg: fluxora-redis-package-pkg-installed
