{#- One group per tier in each network (primary and DR region); ingress and egress are only
    what pillar lists (groups referenced by name first; `cidr: vpc` is the network's CIDR). #}
{%- from 'aws/map.jinja' import aws, prefix, tags, networks %}
include:
  - aws.network
{%- for net_key, network in networks | dictsort %}
{%- for key, group in aws.security_groups | dictsort(by='key') %}
{%- set sources = group.ingress | selectattr('source_group', 'defined') | map(attribute='source_group') | list %}

aws-security_groups-{{ key }}{{ '-dr' if net_key == 'dr' else '' }}-fluxora_ec2-security_group_present:
  fluxora_ec2.security_group_present:
    - name: {{ prefix }}-{{ key }}
    - description: {{ group.description | json }}
    - region: {{ network.region }}
    - vpc_id: {{ network.vpc }}
{%- for direction in ['ingress', 'egress'] %}
    - {{ direction }}:
{%- for rule in group.get(direction, []) %}
{%-   if rule.source_group is defined %}
{%-     set rule = dict(rule, source_group=prefix ~ '-' ~ rule.source_group) %}
{%-   elif rule.cidr is defined and rule.cidr == 'vpc' %}
{%-     set rule = dict(rule, cidr=network.cidr) %}
{%-   endif %}
      - {{ rule | json }}
{%- endfor %}
{%- endfor %}
    - tags: {{ tags | json }}
    - require:
      - fluxora_vpc: aws-network-{{ net_key }}-fluxora_vpc-network_present
{%- for source in sources | unique | sort %}
      - fluxora_ec2: aws-security_groups-{{ source }}{{ '-dr' if net_key == 'dr' else '' }}-fluxora_ec2-security_group_present
{%- endfor %}
{%- endfor %}
{%- endfor %}
