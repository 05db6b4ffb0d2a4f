# Pillar top: every minion gets the shared defaults, then its environment's differences, then
# that environment's GPG-encrypted secrets. The environment is the grain fluxora:env, written in
# the minion config at bootstrap (see docs/OPERATIONS.md) and enforced by fluxora.common.
{%- set env = salt['grains.get']('fluxora:env', '') %}
base:
  '*':
    - fluxora.defaults
{%- if env in ['dev', 'staging', 'prod'] %}
    - fluxora.{{ env }}
  'fluxora:env:{{ env }}':
    - match: grain
    - ignore_missing: true
    # Not in git as plain text: created with scripts/pillar-secret (GPG blocks only).
    - fluxora.secrets.{{ env }}
{%- if env == 'dev' %}
    # A developer's own ports and paths for a shared dev machine (git-ignored; the tests write one).
    - fluxora.local
{%- endif %}
{%- endif %}
