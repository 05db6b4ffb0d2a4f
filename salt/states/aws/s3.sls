{#- Each bucket, and its copy in the DR region that it replicates to. #}
{%- from 'aws/map.jinja' import aws, prefix, tags %}
include:
  - aws.iam
{%- for key, bucket in aws.buckets | dictsort %}

aws-s3-{{ key }}-dr-fluxora_s3-bucket_present:
  fluxora_s3.bucket_present:
    - name: {{ bucket.dr_name }}
    - region: {{ aws.dr_region }}
    - lifecycle: {{ bucket.get('lifecycle', {}) | json }}
    - tags: {{ tags | json }}

aws-s3-{{ key }}-fluxora_s3-bucket_present:
  fluxora_s3.bucket_present:
    - name: {{ bucket.name }}
    - region: {{ aws.region }}
    - lifecycle: {{ bucket.get('lifecycle', {}) | json }}
    - replication:
        role: {{ prefix }}-s3-replication
        destination: {{ bucket.dr_name }}
    - tags: {{ tags | json }}
    - require:
      - fluxora_s3: aws-s3-{{ key }}-dr-fluxora_s3-bucket_present
      - fluxora_iam: aws-iam-replication-fluxora_iam-role_present
{%- endfor %}
