{%- from 'fluxora/postgres/map.jinja' import postgres %}

fluxora-postgres-package-pkg-installed:
  pkg.installed:
    - pkgs:
      - postgresql-{{ postgres.version }}
      - postgresql-client-{{ postgres.version }}
