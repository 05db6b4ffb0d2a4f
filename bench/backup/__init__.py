"""Backup and restore-verify against raw pg_dump -Fc / pg_restore on a generated dataset."""
