{#- The merged parameters of every formula for this minion's environment, secrets redacted
    (template-formula's _mapdata). `salt-call state.show_sls fluxora._mapdata` prints them;
    applying it writes them to /tmp/fluxora-mapdata.yaml. tests/golden/mapdata/<env>.yaml keeps
    one per environment, so a pillar change shows up as a reviewable diff. #}
{%- from 'fluxora/common/map.jinja' import common %}
{%- from 'fluxora/postgres/map.jinja' import postgres %}
{%- from 'fluxora/redis/map.jinja' import redis %}
{%- from 'fluxora/monitoring/map.jinja' import monitoring %}
{%- from 'fluxora/orchestrator/map.jinja' import orchestrator %}
{%- set fluxora = salt['fluxora.shared']() %}
{%- set mapdata = {'env': fluxora.env, 'tags': fluxora.tags, 'topology': fluxora.topology,
                   'common': common, 'postgres': postgres, 'redis': redis,
                   'monitoring': monitoring, 'orchestrator': orchestrator,
                   'scaling': fluxora.get('scaling', {}), 'schedules': fluxora.schedules,
                   'rules': fluxora.rules, 'deploy': fluxora.deploy} %}
{%- if fluxora.env != 'dev' %}
{%- from 'aws/map.jinja' import aws %}
{%- from 'fluxora/walarchive/map.jinja' import walarchive %}
{%- do mapdata.update({'aws': aws, 'walarchive': walarchive}) %}
{%- endif %}

fluxora-_mapdata-file-managed:
  file.managed:
    - name: /tmp/fluxora-mapdata.yaml
    - contents: {{ salt['fluxora.redact'](mapdata) | yaml(False) | json }}
