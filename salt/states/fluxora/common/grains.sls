{#- The grains fluxora:env and fluxora:roles come from pillar topology: the top file and the
    orchestrations target hosts by them. #}
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
