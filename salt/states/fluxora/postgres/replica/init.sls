# The streaming replica: a cluster cloned from the primary with pg_basebackup onto the
# replication slot, then kept in standby (standby.signal, primary_conninfo from pillar).
include:
  - .cluster
  - .clone
  - .config
  - .running
