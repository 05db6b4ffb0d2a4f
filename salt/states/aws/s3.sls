{#- Each bucket, and its copy in the DR region that it replicates to; a log bucket per region
    (fluxora-<env>-logs, -logs-dr) that receives the other buckets' server access logs, the
    CloudTrail trail and the VPC flow logs (aws.logging). #}
{%- from 'aws/map.jinja' import aws, prefix, tags, log_buckets %}
include:
  - aws.iam
{%- for region_key, log in log_buckets | dictsort %}
{%- set arn = 'arn:aws:s3:::' ~ log.name %}

aws-s3-logs-{{ region_key }}-fluxora_s3-bucket_present:
  fluxora_s3.bucket_present:
    - name: {{ log.name }}
    - region: {{ log.region }}
    - lifecycle: {{ {'expire_days': aws.logs.expire_days, 'noncurrent_expire_days': 30} | json }}
    - policy:
        Version: '2012-10-17'
        Statement:
          - Sid: DeliveryReadsTheAcl
            Effect: Allow
            Principal: {Service: [cloudtrail.amazonaws.com, delivery.logs.amazonaws.com]}
            Action: s3:GetBucketAcl
            Resource: {{ arn }}
          - Sid: CloudTrailAndFlowLogsWrite
            Effect: Allow
            Principal: {Service: [cloudtrail.amazonaws.com, delivery.logs.amazonaws.com]}
            Action: s3:PutObject
            Resource: ['{{ arn }}/cloudtrail/AWSLogs/*', '{{ arn }}/AWSLogs/*']
            Condition:
              StringEquals: {'s3:x-amz-acl': bucket-owner-full-control}
          - Sid: AccessLogsFromThisEnvironmentsBuckets
            Effect: Allow
            Principal: {Service: logging.s3.amazonaws.com}
            Action: s3:PutObject
            Resource: '{{ arn }}/*'
            Condition:
              ArnLike: {'aws:SourceArn': 'arn:aws:s3:::{{ prefix }}-*'}
          - Sid: TlsOnly
            Effect: Deny
            Principal: {AWS: '*'}
            Action: 's3:*'
            Resource: ['{{ arn }}', '{{ arn }}/*']
            Condition:
              Bool: {'aws:SecureTransport': 'false'}
    - tags: {{ tags | json }}
{%- endfor %}
{%- for key, bucket in aws.buckets | dictsort %}

aws-s3-{{ key }}-dr-fluxora_s3-bucket_present:
  fluxora_s3.bucket_present:
    - name: {{ bucket.dr_name }}
    - region: {{ aws.dr_region }}
    - lifecycle: {{ bucket.get('lifecycle', {}) | json }}
    - access_log: {bucket: {{ log_buckets.dr.name }}, prefix: 's3/{{ bucket.dr_name }}/'}
    - tags: {{ tags | json }}
    - require:
      - fluxora_s3: aws-s3-logs-dr-fluxora_s3-bucket_present

aws-s3-{{ key }}-fluxora_s3-bucket_present:
  fluxora_s3.bucket_present:
    - name: {{ bucket.name }}
    - region: {{ aws.region }}
    - lifecycle: {{ bucket.get('lifecycle', {}) | json }}
    - replication:
        role: {{ prefix }}-s3-replication
        destination: {{ bucket.dr_name }}
    - access_log: {bucket: {{ log_buckets.primary.name }}, prefix: 's3/{{ bucket.name }}/'}
    - tags: {{ tags | json }}
    - require:
      - fluxora_s3: aws-s3-{{ key }}-dr-fluxora_s3-bucket_present
      - fluxora_s3: aws-s3-logs-primary-fluxora_s3-bucket_present
      - fluxora_iam: aws-iam-replication-fluxora_iam-role_present
{%- endfor %}
