{%- from 'fluxora/redis/map.jinja' import redis %}

fluxora-redis-package-pkg-installed:
  pkg.installed:
    - name: {{ redis.pkg }}
