{#- Roles (replication, backup, monitoring, database owners), the replica's slot, databases. #}
{%- from 'fluxora/postgres/map.jinja' import postgres, psql, ctl %}
{%- set p = postgres.primary %}
{%- set conn = {'db_host': postgres.socket_dir, 'db_port': p.port, 'db_user': postgres.superuser,
                'user': postgres.superuser} %}
{%- set running = 'fluxora-postgres-primary-running-cmd-run' if grains['init'] != 'systemd'
                  else 'fluxora-postgres-primary-running-service-running' %}
{%- set running_req = {('cmd' if grains['init'] != 'systemd' else 'service'): running} %}
{%- set users = {
      postgres.replication.user: {'replication': true, 'password': postgres.replication.password},
      postgres.backup.user: {'replication': true, 'password': postgres.backup.password,
                             'groups': 'pg_read_all_data',
                             'createdb': postgres.backup.createdb},
      postgres.monitor.user: {'groups': 'pg_monitor'},
    } %}
{%- for db, spec in postgres.databases | dictsort %}
{%- do users.setdefault(spec.owner, {}) %}
{%- endfor %}
include:
  - .running

{%- for name, spec in users | dictsort %}

fluxora-postgres-primary-roles-{{ name }}-postgres_user-present:
  postgres_user.present:
    - name: {{ name }}
    - login: true
    - replication: {{ spec.get('replication', false) }}
    - createdb: {{ spec.get('createdb', false) }}
{%- if spec.get('password') %}
    - password: {{ spec.password | json }}
    - encrypted: scram-sha-256
{%- endif %}
{%- if spec.get('groups') %}
    - groups: {{ spec.groups }}
{%- endif %}
{%- for key, value in conn | dictsort %}
    - {{ key }}: {{ value | json }}
{%- endfor %}
    - require:
      - {{ running_req | json }}
{%- endfor %}

fluxora-postgres-primary-roles-slot-cmd-run:
  cmd.run:
    - name: >-
        {{ psql }} -p {{ p.port }} -d postgres
        -c "SELECT pg_create_physical_replication_slot('{{ postgres.replication.slot }}')"
    - unless: >-
        {{ psql }} -p {{ p.port }} -d postgres
        -c "SELECT slot_name FROM pg_replication_slots" | grep -qx '{{ postgres.replication.slot }}'
    - runas: {{ postgres.superuser }}
    - require:
      - {{ running_req | json }}
{%- for db, spec in postgres.databases | dictsort %}

fluxora-postgres-primary-roles-{{ db }}-postgres_database-present:
  postgres_database.present:
    - name: {{ db }}
    - owner: {{ spec.owner }}
{%- for key, value in conn | dictsort %}
    - {{ key }}: {{ value | json }}
{%- endfor %}
    - require:
      - postgres_user: fluxora-postgres-primary-roles-{{ spec.owner }}-postgres_user-present
{%- endfor %}
