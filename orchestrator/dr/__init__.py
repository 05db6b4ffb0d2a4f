"""Disaster recovery for PostgreSQL: the topology of each environment's clusters, failover,
fencing, promotion, client endpoints, rejoin, and the write probe that measures RTO/RPO."""
