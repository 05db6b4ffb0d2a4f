{%- from 'fluxora/postgres/map.jinja' import postgres, conf_dir %}
{%- set p = postgres.primary %}
include:
  - fluxora.postgres.package

fluxora-postgres-primary-cluster-cmd-run:
  cmd.run:
    - name: >-
        pg_createcluster {{ postgres.version }} {{ p.cluster }} --port {{ p.port }}
        -- --auth-local=peer --auth-host=scram-sha-256 --data-checksums
    - creates: {{ conf_dir(p.cluster) }}/postgresql.conf
    - require:
      - pkg: fluxora-postgres-package-pkg-installed
