# Continuous WAL archiving with barman-cloud (fluxora-wal-archive as archive_command) to the
# environment's backups bucket and its DR-region copy. PostgreSQL itself gets the setting from
# pillar fluxora:walarchive:postgres_parameters (fluxora.postgres / Patroni).
include:
  - .package
  - .config
  - .service
