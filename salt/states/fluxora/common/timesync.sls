{#- chrony keeps the clock; a dev machine in a VM or container takes time from its host. #}
{%- from 'fluxora/common/map.jinja' import common %}
{%- from 'fluxora/libs/noop.jinja' import noop %}
{%- if common.timesync.enabled %}

fluxora-common-timesync-pkg-installed:
  pkg.installed:
    - name: {{ common.timesync.pkg }}

fluxora-common-timesync-service-running:
  service.running:
    - name: {{ common.timesync.service }}
    - enable: true
    - require:
      - pkg: fluxora-common-timesync-pkg-installed
{%- else %}
{{ noop('fluxora-common-timesync', 'time sync is off in this environment (fluxora:common:timesync:enabled)') }}
{%- endif %}
