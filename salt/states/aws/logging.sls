{#- Audit and network logs: one CloudTrail trail for every region (log-file validation on),
    and VPC flow logs of every VPC the environment uses (the primary region's and the DR
    region's), all into the log buckets of aws.s3. #}
{%- from 'aws/map.jinja' import aws, prefix, tags, log_buckets, networks %}
include:
  - aws.s3
  - aws.network

aws-logging-trail-fluxora_cloudtrail-trail_present:
  fluxora_cloudtrail.trail_present:
    - name: {{ prefix }}-trail
    - region: {{ aws.region }}
    - bucket: {{ log_buckets.primary.name }}
    - prefix: cloudtrail
    - tags: {{ tags | json }}
    - require:
      - fluxora_s3: aws-s3-logs-primary-fluxora_s3-bucket_present
{%- for region_key, log in log_buckets | dictsort %}

aws-logging-flow-{{ region_key }}-fluxora_ec2-flow_log_present:
  fluxora_ec2.flow_log_present:
    - name: {{ prefix }}-flow-{{ region_key }}
    - region: {{ log.region }}
    - vpc_id: {{ networks[region_key].vpc }}
    - bucket: {{ log.name }}
    - tags: {{ tags | json }}
    - require:
      - fluxora_s3: aws-s3-logs-{{ region_key }}-fluxora_s3-bucket_present
      - fluxora_vpc: aws-network-{{ region_key }}-fluxora_vpc-network_present
{%- endfor %}
