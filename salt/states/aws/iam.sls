{#- Roles for S3 replication, the API and worker instances, and the DB hosts' WAL archiver. #}
{%- from 'aws/map.jinja' import aws, prefix, tags %}
{%- from 'fluxora/walarchive/map.jinja' import walarchive %}
{%- set trust_ec2 = {'Version': '2012-10-17', 'Statement': [{'Effect': 'Allow',
      'Principal': {'Service': 'ec2.amazonaws.com'}, 'Action': 'sts:AssumeRole'}]} %}
{%- set trust_s3 = {'Version': '2012-10-17', 'Statement': [{'Effect': 'Allow',
      'Principal': {'Service': 's3.amazonaws.com'}, 'Action': 'sts:AssumeRole'}]} %}
{%- set sources = [] %}{% set source_objects = [] %}{% set dr_objects = [] %}
{%- for _, bucket in aws.buckets | dictsort %}
{%- do sources.append('arn:aws:s3:::' ~ bucket.name) %}
{%- do source_objects.append('arn:aws:s3:::' ~ bucket.name ~ '/*') %}
{%- do dr_objects.append('arn:aws:s3:::' ~ bucket.dr_name ~ '/*') %}
{%- endfor %}
{#- The instances' roles reach the artifacts bucket only: without one in pillar this fails
    rendering rather than hand them another bucket. #}
{%- set artifacts = salt['fluxora.require'](aws, ['buckets:artifacts:name'],
      'fluxora:aws').buckets.artifacts.name %}

aws-iam-replication-fluxora_iam-role_present:
  fluxora_iam.role_present:
    - name: {{ prefix }}-s3-replication
    - region: {{ aws.region }}
    - assume_role_policy: {{ trust_s3 | json }}
    - policies:
        replicate:
          Version: '2012-10-17'
          Statement:
            - {Effect: Allow, Action: [s3:GetReplicationConfiguration, s3:ListBucket],
               Resource: {{ sources | json }}}
            - {Effect: Allow, Action: [s3:GetObjectVersionForReplication, s3:GetObjectVersionAcl,
                                       s3:GetObjectVersionTagging],
               Resource: {{ source_objects | json }}}
            - {Effect: Allow, Action: [s3:ReplicateObject, s3:ReplicateDelete, s3:ReplicateTags],
               Resource: {{ dr_objects | json }}}
    - tags: {{ tags | json }}
{%- for role, actions in [('api', ['s3:GetObject']), ('worker', ['s3:GetObject', 's3:PutObject'])] %}

aws-iam-{{ role }}-fluxora_iam-role_present:
  fluxora_iam.role_present:
    - name: {{ prefix }}-{{ role }}
    - region: {{ aws.region }}
    - assume_role_policy: {{ trust_ec2 | json }}
    - instance_profile: true
    - policies:
        artifacts:
          Version: '2012-10-17'
          Statement:
            - {Effect: Allow, Action: [s3:ListBucket], Resource: ['arn:aws:s3:::{{ artifacts }}']}
            - {Effect: Allow, Action: {{ actions | json }}, Resource: ['arn:aws:s3:::{{ artifacts }}/*']}
    - tags: {{ tags | json }}
{%- endfor %}

{#- The DB hosts' WAL archiver (fluxora-wal-archive, barman-cloud-wal-archive and the restores'
    barman-cloud-wal-restore): its server's objects under each destination's prefix, the primary
    bucket and the DR copy, nothing else. No delete: retention is the orchestrator's. The
    destinations are the ones fluxora.walarchive writes into the archiver's config. #}
{%- set wal_buckets = [] %}{% set wal_prefixes = [] %}{% set wal_objects = [] %}
{%- for destination in walarchive.destinations %}
{%-   set bucket, _, path = destination.url.replace('s3://', '', 1).partition('/') %}
{%-   set key = (path.strip('/') ~ '/' if path.strip('/') else '') ~ walarchive.server_name %}
{%-   do wal_buckets.append('arn:aws:s3:::' ~ bucket) %}
{%-   do wal_prefixes.append(key ~ '/*') %}
{%-   do wal_objects.append('arn:aws:s3:::' ~ bucket ~ '/' ~ key ~ '/*') %}
{%- endfor %}

aws-iam-wal_archiver-fluxora_iam-role_present:
  fluxora_iam.role_present:
    - name: {{ prefix }}-wal-archiver
    - region: {{ aws.region }}
    - assume_role_policy: {{ trust_ec2 | json }}
    - instance_profile: true
    - policies:
        wal:
          Version: '2012-10-17'
          Statement:
            # barman checks the bucket (HeadBucket: s3:ListBucket without a prefix) before
            # each upload; a listing that names a prefix must name the server's.
            - {Effect: Allow, Action: [s3:ListBucket], Resource: {{ wal_buckets | unique | json }},
               Condition: {StringLikeIfExists: {'s3:prefix': {{ wal_prefixes | unique | json }}}}}
            - {Effect: Allow, Action: [s3:GetObject, s3:PutObject, s3:AbortMultipartUpload],
               Resource: {{ wal_objects | json }}}
    - tags: {{ tags | json }}
