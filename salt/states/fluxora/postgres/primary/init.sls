# The primary cluster: created, configured for streaming replication, started, then its roles,
# replication slot and databases.
include:
  - .cluster
  - .config
  - .running
  - .roles
