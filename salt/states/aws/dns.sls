{#- The zone, a health check per endpoint, and PRIMARY/SECONDARY failover records. #}
{%- from 'aws/map.jinja' import aws, prefix, tags %}
{%- set check = aws.dns.health_check %}

aws-dns-zone-fluxora_route53-zone_present:
  fluxora_route53.zone_present:
    - name: {{ aws.dns.zone }}
    - comment: Fluxora {{ prefix }}
    - tags: {{ tags | json }}
{%- for key, record in aws.dns.records | dictsort %}
{%- for failover in ['primary', 'secondary'] %}
{%- set endpoint = record[failover] %}

aws-dns-{{ key }}-{{ failover }}-fluxora_route53-health_check_present:
  fluxora_route53.health_check_present:
    - name: {{ prefix }}-{{ key }}-{{ failover }}
    - ip: {{ endpoint.ip }}
    - port: {{ endpoint.get('port', check.port) }}
    - check_type: {{ check.type }}
    - path: {{ endpoint.health_path }}
    - fqdn: {{ record.name.rstrip('.') }}
    - failure_threshold: {{ check.failure_threshold }}
    - request_interval: {{ check.request_interval }}
    - tags: {{ tags | json }}

aws-dns-{{ key }}-{{ failover }}-fluxora_route53-failover_record_present:
  fluxora_route53.failover_record_present:
    - name: {{ record.name }}
    - zone: {{ aws.dns.zone }}
    - record_type: A
    - values: [{{ endpoint.ip }}]
    - failover: {{ failover | upper }}
    - set_identifier: {{ prefix }}-{{ key }}-{{ failover }}
    - health_check: {{ prefix }}-{{ key }}-{{ failover }}
    - ttl: {{ record.get('ttl', 60) }}
    - require:
      - fluxora_route53: aws-dns-zone-fluxora_route53-zone_present
      - fluxora_route53: aws-dns-{{ key }}-{{ failover }}-fluxora_route53-health_check_present
{%- endfor %}
{%- endfor %}
