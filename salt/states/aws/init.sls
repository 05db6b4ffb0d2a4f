# AWS resources of one environment (staging or prod), applied from a host with the `cloud` role.
# Order: roles the buckets and instances need, buckets, logs, network, compute, DNS, then the
# orchestrator's role (its policy names the groups, zone and health checks made before it);
# last, the orphans: what is tagged as this environment's but no longer declared (a plan lists
# them as `remove`, an apply deletes them).
include:
  - .iam
  - .s3
  - .network
  - .logging
  - .security_groups
  - .autoscaling
  - .dns
  - .orchestrator_role
  - .orphans
