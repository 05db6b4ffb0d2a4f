{%- from 'fluxora/common/map.jinja' import common %}

fluxora-common-package-pkg-installed:
  pkg.installed:
    - pkgs: {{ common.pkgs | json }}
