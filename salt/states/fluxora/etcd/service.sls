{#- This host's member of the environment's etcd cluster, every member named in
    --initial-cluster (the first start of each forms the cluster; later starts read the data
    directory and ignore it). #}
{%- from 'fluxora/etcd/map.jinja' import etcd %}
{%- from 'fluxora/libs/service.jinja' import daemon %}
{%- from 'fluxora/libs/noop.jinja' import noop %}
{%- set me = etcd.members.get(grains['id']) %}
include:
  - .package
{%- if me %}
{%- set initial = [] %}
{%- for id, member in etcd.members | dictsort %}
{%-   do initial.append(id ~ '=' ~ member.peer_url) %}
{%- endfor %}

fluxora-etcd-service-data-file-directory:
  file.directory:
    - names:
      - {{ etcd.data_dir }}
      - {{ etcd.log_dir }}
    - user: {{ etcd.user }}
    - group: {{ etcd.group }}
    - mode: '0700'
    - makedirs: true
    - require:
      - pkg: fluxora-etcd-package-pkg-installed
{{ daemon('fluxora-etcd', {
     'name': etcd.service, 'description': 'Fluxora etcd member ' ~ grains['id'],
     'user': etcd.user, 'group': etcd.group, 'workdir': etcd.data_dir,
     'log': etcd.log_dir ~ '/' ~ etcd.service ~ '.log', 'exec': '/usr/bin/etcd',
     'args': ['--name', grains['id'], '--data-dir', etcd.data_dir,
              '--listen-client-urls', me.client_url, '--advertise-client-urls', me.client_url,
              '--listen-peer-urls', me.peer_url, '--initial-advertise-peer-urls', me.peer_url,
              '--initial-cluster', initial | join(','), '--initial-cluster-state', 'new',
              '--initial-cluster-token', 'fluxora-' ~ salt['fluxora.env']()]},
   require=[{'file': 'fluxora-etcd-service-data-file-directory'}]) }}
{%- else %}
{{ noop('fluxora-etcd-service', 'this host is no etcd member in the topology') }}
{%- endif %}
