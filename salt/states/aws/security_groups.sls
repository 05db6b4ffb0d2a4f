{#- One group per tier; ingress is only what pillar lists (groups referenced by name first). #}
{%- from 'aws/map.jinja' import aws, prefix, tags %}
{%- for key, group in aws.security_groups | dictsort(by='key') %}
{%- set sources = group.ingress | selectattr('source_group', 'defined') | map(attribute='source_group') | list %}

aws-security_groups-{{ key }}-fluxora_ec2-security_group_present:
  fluxora_ec2.security_group_present:
    - name: {{ prefix }}-{{ key }}
    - description: {{ group.description | json }}
    - region: {{ aws.region }}
    - vpc_id: {{ aws.vpc_id | json }}
    - ingress:
{%- for rule in group.ingress %}
      - {{ dict(rule, source_group=prefix ~ '-' ~ rule.source_group) | json if rule.source_group is defined else rule | json }}
{%- endfor %}
    - tags: {{ tags | json }}
{%- if sources %}
    - require:
{%- for source in sources | unique | sort %}
      - fluxora_ec2: aws-security_groups-{{ source }}-fluxora_ec2-security_group_present
{%- endfor %}
{%- endif %}
{%- endfor %}
