{#- The orchestrator's role: only this environment's backup buckets, Auto Scaling groups, zone
    and health checks. Resources AWS names at creation are `ref:`s, resolved when applied; the
    Describe actions below have no resource-level permissions in IAM, hence their "*". #}
{%- from 'aws/map.jinja' import aws, prefix, tags %}
{%- set b = aws.buckets.backups %}
{%- set buckets = ['arn:aws:s3:::' ~ b.name, 'arn:aws:s3:::' ~ b.dr_name] %}
{%- set objects = ['arn:aws:s3:::' ~ b.name ~ '/*', 'arn:aws:s3:::' ~ b.dr_name ~ '/*'] %}
{%- set groups = [] %}
{%- for key in aws.groups | sort %}{% do groups.append('ref:asg:' ~ prefix ~ '-' ~ key) %}{% endfor %}
{#- The DR region's pilot-light copies, which region-evacuation scales. #}
{%- for key in aws.dr_groups | sort %}
{%- do groups.append('ref:asg@' ~ aws.dr_region ~ ':' ~ prefix ~ '-' ~ key ~ '-dr') %}
{%- endfor %}
{%- set checks = [] %}
{%- for key in aws.dns.records | sort %}
{%- for failover in ['primary', 'secondary'] %}
{%- do checks.append('ref:route53-healthcheck:' ~ prefix ~ '-' ~ key ~ '-' ~ failover) %}
{%- endfor %}
{%- endfor %}
include:
  - aws.s3
  - aws.autoscaling
  - aws.dns

aws-orchestrator_role-fluxora_iam-role_present:
  fluxora_iam.role_present:
    - name: {{ prefix }}-orchestrator
    - region: {{ aws.region }}
    - instance_profile: true
    - assume_role_policy:
        Version: '2012-10-17'
        Statement:
          - {Effect: Allow, Principal: {Service: ec2.amazonaws.com}, Action: 'sts:AssumeRole'}
    - policies:
        backups:
          Version: '2012-10-17'
          Statement:
            - {Effect: Allow, Action: [s3:ListBucket, s3:GetBucketLocation,
                                       s3:ListBucketMultipartUploads],
               Resource: {{ buckets | json }}}
            - {Effect: Allow, Action: [s3:GetObject, s3:PutObject, s3:DeleteObject,
                                       s3:AbortMultipartUpload],
               Resource: {{ objects | json }}}
        scaling:
          Version: '2012-10-17'
          Statement:
            - {Effect: Allow, Action: [autoscaling:SetDesiredCapacity, autoscaling:SetInstanceProtection,
                                       autoscaling:UpdateAutoScalingGroup],
               Resource: {{ groups | json }}}
            - {Effect: Allow, Action: [autoscaling:DescribeAutoScalingGroups,
                                       autoscaling:DescribeScalingActivities],
               Resource: '*'}
        failover:
          Version: '2012-10-17'
          Statement:
            - {Effect: Allow, Action: [route53:ChangeResourceRecordSets, route53:ListResourceRecordSets],
               Resource: ['ref:route53-zone:{{ aws.dns.zone }}']}
            - {Effect: Allow, Action: [route53:GetHealthCheck, route53:GetHealthCheckStatus],
               Resource: {{ checks | json }}}
        # security.check reads how the environment's resources are configured (read only).
        security:
          Version: '2012-10-17'
          Statement:
            - {Effect: Allow, Action: [s3:ListAllMyBuckets, ec2:DescribeVpcs, ec2:DescribeFlowLogs,
                                       ec2:DescribeSecurityGroups, ec2:DescribeLaunchTemplates,
                                       ec2:DescribeLaunchTemplateVersions, iam:ListRoles,
                                       cloudtrail:DescribeTrails],
               Resource: '*'}
            - {Effect: Allow, Action: [s3:GetBucketLocation, s3:GetBucketPublicAccessBlock,
                                       s3:GetEncryptionConfiguration, s3:GetBucketLogging,
                                       s3:GetBucketPolicy],
               Resource: ['arn:aws:s3:::{{ prefix }}-*']}
            - {Effect: Allow, Action: [iam:ListRolePolicies, iam:GetRolePolicy,
                                       iam:ListAttachedRolePolicies],
               Resource: ['arn:aws:iam::*:role/{{ prefix }}-*']}
            - {Effect: Allow, Action: [iam:GetPolicy, iam:GetPolicyVersion],
               Resource: ['arn:aws:iam::*:policy/*']}
            - {Effect: Allow, Action: [cloudtrail:GetTrailStatus],
               Resource: ['arn:aws:cloudtrail:*:*:trail/*']}
    - tags: {{ tags | json }}
    - require:
      - sls: aws.s3
      - sls: aws.autoscaling
      - sls: aws.dns
