"""Families: one package per business area (its actions, resources, hooks, metrics, tables and
config section), each declared through `base.Family` and listed in `orchestrator.app.families`.
The engine imports none of them."""
