{%- from 'fluxora/redis/map.jinja' import redis %}
{%- from 'fluxora/libs/service.jinja' import daemon %}
include:
  - .config
{{ daemon('fluxora-redis', {
     'name': redis.service, 'description': 'Fluxora Redis on port ' ~ redis.port,
     'user': redis.user, 'group': redis.group, 'workdir': redis.data_dir, 'log': redis.log,
     'exec': '/usr/bin/redis-server', 'args': [redis.config]},
   watch=[{'file': 'fluxora-redis-config-file-managed'}],
   require=[{'file': 'fluxora-redis-config-data-file-directory'}]) }}
