{#- The environment's VPC in the primary and in the DR region: subnets, route tables and an S3
    gateway endpoint (fluxora_vpc.network_present). Everything else of the environment runs
    in them: security groups, Auto Scaling groups, flow logs. #}
{%- from 'aws/map.jinja' import networks, tags %}
{%- for key, network in networks | dictsort %}

aws-network-{{ key }}-fluxora_vpc-network_present:
  fluxora_vpc.network_present:
    - name: {{ network.name }}
    - region: {{ network.region }}
    - cidr: {{ network.cidr }}
    - subnets: {{ network.subnets | json }}
    - tags: {{ tags | json }}
{%- endfor %}
