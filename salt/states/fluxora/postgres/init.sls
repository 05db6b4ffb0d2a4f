# PostgreSQL primary and its streaming replica (both, as on a dev machine). A host with one role
# gets fluxora.postgres.primary or fluxora.postgres.replica from the top file.
include:
  - .primary
  - .replica
