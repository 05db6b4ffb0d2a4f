{%- from 'fluxora/monitoring/map.jinja' import monitoring %}

fluxora-monitoring-server-package-pkg-installed:
  pkg.installed:
    - pkgs:
      - {{ monitoring.prometheus.pkg }}
      - {{ monitoring.alertmanager.pkg }}
