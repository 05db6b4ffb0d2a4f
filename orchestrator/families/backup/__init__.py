"""PostgreSQL backups into the object store, their catalog and retention, and restore-verify.

`backup.run_backup` streams pg_dump/pg_basebackup through zstd into the store and writes the
manifest last; `catalog` lists only backups that have one; `retention` decides what to prune;
`restore.restore_verify` proves a backup restores and matches its manifest.
"""
