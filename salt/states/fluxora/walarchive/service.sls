{%- from 'fluxora/walarchive/map.jinja' import walarchive %}
{%- from 'fluxora/libs/service.jinja' import daemon %}
{#- Closes the WAL segment every switch_every_seconds on the leader (a no-op on a standby, or
    when nothing was written), so the recovery point of a region loss stays bounded. #}
include:
  - .config
{{ daemon('fluxora-walarchive', {
     'name': walarchive.switch_service,
     'description': 'Fluxora WAL segment switch every ' ~ walarchive.switch_every_seconds ~ ' s',
     'user': walarchive.user, 'group': walarchive.group, 'workdir': '/',
     'log': walarchive.log_dir ~ '/' ~ walarchive.switch_service ~ '.log',
     'exec': walarchive.script, 'args': ['--config', walarchive.config, '--switch']},
   watch=[{'file': 'fluxora-walarchive-config-file-serialize'}],
   require=[{'file': 'fluxora-walarchive-package-file-managed'}]) }}
