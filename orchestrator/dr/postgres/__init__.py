"""PostgreSQL failover and failback, one small module per concern: `topology` (config),
`nodes` (reaching and controlling a server), `endpoint` (where clients connect), `failover`
(primary down, fence, promote), `rejoin` (pg_rewind or a fresh clone), `checks` (check.sql)."""
