# PostgreSQL under Patroni: the primary's and the replica's members (both, as on a dev machine).
# A host with one role gets fluxora.postgres.primary or fluxora.postgres.replica from the top file.
include:
  - .primary
  - .replica
