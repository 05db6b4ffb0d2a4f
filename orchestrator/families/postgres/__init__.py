"""PostgreSQL: the one client (`client`: servers, connections, the libpq environment; `tools`:
where the client programs are), each environment's clusters (`topology`), reaching and
controlling a server (`nodes`), where clients connect (`endpoint`), failover (primary down,
fence, promote), rejoin (pg_rewind or a fresh clone), `check.sql` (`checks`) and the write
probe that measures RTO/RPO (`probe`); the actions are in `actions`."""
