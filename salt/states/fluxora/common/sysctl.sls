{%- from 'fluxora/common/map.jinja' import common %}
{%- for key, value in common.sysctl.settings | dictsort %}

fluxora-common-sysctl-{{ key }}-sysctl-present:
  sysctl.present:
    - name: {{ key }}
    - value: {{ value }}
    - config: {{ common.sysctl.config }}
{%- endfor %}
