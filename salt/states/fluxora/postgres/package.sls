{#- PostgreSQL, Patroni (Debian 3.0.2: Patroni 4 refuses ttl below 20 s, and the measured
    failover needs ttl 8) with its etcd client, and the launcher that runs Patroni. #}
{%- from 'fluxora/postgres/map.jinja' import postgres, launcher %}

fluxora-postgres-package-pkg-installed:
  pkg.installed:
    - pkgs:
      - postgresql-{{ postgres.version }}
      - postgresql-client-{{ postgres.version }}
      - patroni
      - python3-etcd
      - python3-pysyncobj  # the raft DCS of a standalone (restore, DR) server
      - curl

fluxora-postgres-package-launcher-file-managed:
  file.managed:
    - name: {{ launcher }}
    - source: salt://fluxora/postgres/files/fluxora-patroni
    - mode: '0755'
    - require:
      - pkg: fluxora-postgres-package-pkg-installed
