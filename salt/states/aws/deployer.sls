{#- The deployer: the role that applies the aws states (`state.apply aws` runs with its
    credentials), with only the calls those states make, on this environment's resources.
    Not part of `aws` (a deployer that could rewrite its own policy could grant itself
    anything): an administrator applies `aws.deployer` once per environment and after a change
    to this file. It may not change itself (explicit deny), attach managed policies to any role
    (the states never attach one), nor pass a role to anything but EC2 and S3 replication.
    Describe/List calls and creating a hosted zone or health check have no resource-level
    permissions in IAM, hence their "*"; Route53 ids are assigned at creation, hence
    hostedzone/* and healthcheck/*. #}
{%- from 'aws/map.jinja' import aws, prefix, tags %}
{%- set principals = salt['fluxora.require'](aws, ['deployer:principals'],
      'fluxora:aws').deployer.principals %}
{%- set regions = [aws.region, aws.dr_region] %}
{%- set self = 'arn:aws:iam::*:role/' ~ prefix ~ '-deployer' %}
{%- set roles = ['arn:aws:iam::*:role/' ~ prefix ~ '-*', 'arn:aws:iam::*:instance-profile/' ~ prefix ~ '-*'] %}
{%- set ec2 = [] %}
{%- for region in regions %}
{%-   for kind in ['vpc', 'subnet', 'security-group', 'security-group-rule', 'launch-template',
                   'route-table', 'internet-gateway', 'vpc-endpoint', 'vpc-flow-log',
                   'instance', 'volume', 'network-interface'] %}
{%-     do ec2.append('arn:aws:ec2:' ~ region ~ ':*:' ~ kind ~ '/*') %}
{%-   endfor %}
{%-   do ec2.append('arn:aws:ec2:' ~ region ~ '::image/*') %}
{%- endfor %}
{%- set groups = [] %}
{%- set trails = [] %}
{%- for region in regions %}
{%-   do groups.append('arn:aws:autoscaling:' ~ region ~ ':*:autoScalingGroup:*:autoScalingGroupName/' ~ prefix ~ '-*') %}
{%-   do trails.append('arn:aws:cloudtrail:' ~ region ~ ':*:trail/' ~ prefix ~ '-*') %}
{%- endfor %}

aws-deployer-fluxora_iam-role_present:
  fluxora_iam.role_present:
    - name: {{ prefix }}-deployer
    - region: {{ aws.region }}
    - assume_role_policy:
        Version: '2012-10-17'
        Statement:
          - {Effect: Allow, Principal: {AWS: {{ principals | json }}}, Action: 'sts:AssumeRole'}
    - policies:
        deploy:
          Version: '2012-10-17'
          Statement:
            - Sid: ReadOnlyWithoutResourceLevel
              Effect: Allow
              Action: [ec2:DescribeVpcs, ec2:DescribeSubnets, ec2:DescribeSecurityGroups,
                       ec2:DescribeLaunchTemplates, ec2:DescribeLaunchTemplateVersions,
                       ec2:DescribeRouteTables, ec2:DescribeInternetGateways,
                       ec2:DescribeVpcEndpoints, ec2:DescribeFlowLogs, ec2:DescribePrefixLists,
                       autoscaling:DescribeAutoScalingGroups, route53:ListHostedZonesByName,
                       route53:ListHealthChecks, route53:CreateHostedZone,
                       route53:CreateHealthCheck, cloudtrail:DescribeTrails,
                       logs:CreateLogDelivery, logs:DeleteLogDelivery, s3:ListAllMyBuckets]
              Resource: '*'
            - Sid: Buckets
              Effect: Allow
              Action: [s3:CreateBucket, s3:ListBucket, s3:GetBucketLocation,
                       s3:GetBucketVersioning, s3:PutBucketVersioning,
                       s3:GetEncryptionConfiguration, s3:PutEncryptionConfiguration,
                       s3:GetBucketPublicAccessBlock, s3:PutBucketPublicAccessBlock,
                       s3:GetLifecycleConfiguration, s3:PutLifecycleConfiguration,
                       s3:GetBucketTagging, s3:PutBucketTagging,
                       s3:GetReplicationConfiguration, s3:PutReplicationConfiguration,
                       s3:GetBucketPolicy, s3:DeleteBucketPolicy, s3:GetBucketLogging,
                       s3:PutBucketLogging,
                       s3:GetBucketOwnershipControls, s3:PutBucketOwnershipControls,
                       s3:ListBucketVersions, s3:DeleteBucket]
              Resource: ['arn:aws:s3:::{{ prefix }}-*']
            # Only the log buckets have a bucket policy (log delivery by CloudTrail and S3):
            # a deployer that could write any bucket's policy could open the backups to itself.
            - Sid: LogBucketPolicies
              Effect: Allow
              Action: [s3:PutBucketPolicy]
              Resource: ['arn:aws:s3:::{{ prefix }}-logs', 'arn:aws:s3:::{{ prefix }}-logs-dr']
            - Sid: Roles
              Effect: Allow
              Action: [iam:GetRole, iam:CreateRole, iam:UpdateAssumeRolePolicy, iam:TagRole,
                       iam:UntagRole, iam:ListRoleTags, iam:ListRolePolicies, iam:GetRolePolicy,
                       iam:PutRolePolicy, iam:DeleteRolePolicy, iam:ListAttachedRolePolicies,
                       iam:DetachRolePolicy, iam:ListInstanceProfilesForRole,
                       iam:GetInstanceProfile, iam:CreateInstanceProfile,
                       iam:TagInstanceProfile, iam:AddRoleToInstanceProfile]
              Resource: {{ roles | json }}
            - Sid: PassOnlyToEc2AndS3
              Effect: Allow
              Action: [iam:PassRole]
              Resource: {{ roles[:1] | json }}
              Condition:
                StringEquals: {'iam:PassedToService': [ec2.amazonaws.com, s3.amazonaws.com]}
            - Sid: NeverItself
              Effect: Deny
              Action: [iam:UpdateAssumeRolePolicy, iam:PutRolePolicy, iam:DeleteRolePolicy,
                       iam:AttachRolePolicy, iam:DetachRolePolicy, iam:TagRole, iam:UntagRole]
              Resource: ['{{ self }}']
            - Sid: Network
              Effect: Allow
              Action: [ec2:CreateVpc, ec2:ModifyVpcAttribute, ec2:CreateSubnet,
                       ec2:ModifySubnetAttribute, ec2:CreateRouteTable, ec2:AssociateRouteTable,
                       ec2:CreateRoute, ec2:CreateInternetGateway, ec2:AttachInternetGateway,
                       ec2:CreateVpcEndpoint, ec2:ModifyVpcEndpoint, ec2:CreateFlowLogs,
                       ec2:DeleteFlowLogs, ec2:CreateSecurityGroup,
                       ec2:AuthorizeSecurityGroupIngress, ec2:RevokeSecurityGroupIngress,
                       ec2:AuthorizeSecurityGroupEgress, ec2:RevokeSecurityGroupEgress,
                       ec2:CreateLaunchTemplate, ec2:CreateLaunchTemplateVersion,
                       ec2:ModifyLaunchTemplate, ec2:RunInstances, ec2:CreateTags,
                       ec2:DeleteSecurityGroup, ec2:DeleteLaunchTemplate]
              Resource: {{ ec2 | json }}
            - Sid: Groups
              Effect: Allow
              Action: [autoscaling:CreateAutoScalingGroup, autoscaling:UpdateAutoScalingGroup,
                       autoscaling:CreateOrUpdateTags, autoscaling:DeleteTags,
                       autoscaling:DeleteAutoScalingGroup]
              Resource: {{ groups | json }}
            - Sid: Dns
              Effect: Allow
              Action: [route53:ListResourceRecordSets, route53:ChangeResourceRecordSets,
                       route53:GetHealthCheck, route53:UpdateHealthCheck,
                       route53:ChangeTagsForResource, route53:ListTagsForResource,
                       route53:ListTagsForResources]
              Resource: ['arn:aws:route53:::hostedzone/*', 'arn:aws:route53:::healthcheck/*']
            - Sid: Trail
              Effect: Allow
              Action: [cloudtrail:CreateTrail, cloudtrail:UpdateTrail, cloudtrail:StartLogging,
                       cloudtrail:GetTrailStatus, cloudtrail:GetTrail, cloudtrail:AddTags,
                       cloudtrail:ListTags]
              Resource: {{ trails | json }}
    - tags: {{ tags | json }}
