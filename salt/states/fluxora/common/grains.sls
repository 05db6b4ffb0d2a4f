{#- The grains fluxora:env and fluxora:roles are kept equal to the pillar's, which come from the
    minion id (salt/pillar/fluxora/identity.jinja): informational; the states' top file and the
    orchestrations target by pillar, never by these grains. #}
{%- from 'fluxora/common/map.jinja' import fluxora, roles %}

fluxora-common-grains-env-grains-present:
  grains.present:
    - name: 'fluxora:env'
    - value: {{ fluxora.env }}
    - force: true

fluxora-common-grains-roles-grains-present:
  grains.present:
    - name: 'fluxora:roles'
    - value: {{ roles | sort | json }}
    - force: true
