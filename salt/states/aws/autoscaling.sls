{#- A launch template and an Auto Scaling group per group in pillar; limits, cooldown, warmup
    and scale-in protection from pillar fluxora:scaling:groups (the scaling engine's policy).
    Each group in fluxora:aws:dr_groups also gets a pilot-light copy in aws.dr_region
    (fluxora-<env>-<key>-dr, created at 0, min 0; its policy: aws/map.jinja dr_scaling), which
    the region-evacuation runbook scales up. Groups run in their network's private subnets,
    with their tier's security groups of that network. #}
{%- from 'aws/map.jinja' import aws, prefix, tags, scaling, dr_scaling, fluxora, networks %}
{%- set policy_keys = ['min', 'max', 'desired', 'cooldown_seconds', 'warmup_seconds',
      'scale_in_protection'] %}
include:
  - aws.iam
  - aws.security_groups

{%- macro group_states(id, key, name, network, group, policy, desired) %}
{%- set region = network.region %}
{%- set suffix = '-dr' if id.endswith('-dr') else '' %}
{%- set subnets = [] %}
{%- for subnet, spec in network.subnets | dictsort if spec.get('tier', 'private') == 'private' %}
{%-   do subnets.append('ref:subnet@' ~ region ~ ':' ~ network.name ~ '-' ~ subnet) %}
{%- endfor %}

aws-autoscaling-{{ id }}-fluxora_ec2-launch_template_present:
  fluxora_ec2.launch_template_present:
    - name: {{ name }}
    - region: {{ region }}
    - vpc_id: {{ network.vpc }}
    - image_id: {{ group.image_id }}
    - instance_type: {{ group.instance_type }}
    - security_groups: {{ group.get('security_groups', []) | map('regex_replace', '^', prefix ~ '-') | list | json }}
    - instance_profile: {{ prefix }}-{{ key }}
    - user_data: |
        #!/bin/sh
        # Bootstrap: the minion id names the group and the instance, which is how the master's
        # pillar top knows its environment and role (salt/pillar/fluxora/identity.jinja).
        set -e
        imds=http://169.254.169.254/latest
        token=$(curl -sf -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' $imds/api/token)
        instance=$(curl -sf -H "X-aws-ec2-metadata-token: $token" $imds/meta-data/instance-id)
        mkdir -p /etc/salt/minion.d
        cat > /etc/salt/minion.d/fluxora.conf <<EOF
        master: {{ aws.salt_master }}
        id: {{ name }}-$instance
        grains:
          fluxora:
            env: {{ fluxora.env }}
            roles: [{{ key }}]
        EOF
    - tags: {{ tags | json }}
    - require:
      - fluxora_iam: aws-iam-{{ key }}-fluxora_iam-role_present
{%- for sg in group.get('security_groups', []) %}
      - fluxora_ec2: aws-security_groups-{{ sg }}{{ suffix }}-fluxora_ec2-security_group_present
{%- endfor %}

aws-autoscaling-{{ id }}-fluxora_asg-group_present:
  fluxora_asg.group_present:
    - name: {{ name }}
    - region: {{ region }}
    - launch_template: {{ name }}
    - min_size: {{ policy.min }}
    - max_size: {{ policy.max }}
    - desired_capacity: {{ desired }}
    - default_cooldown: {{ policy.cooldown_seconds }}
    - default_instance_warmup: {{ policy.warmup_seconds }}
    - protect_from_scale_in: {{ policy.scale_in_protection }}
    - subnets: {{ subnets | json }}
    - tags: {{ tags | json }}
    - require:
      - fluxora_ec2: aws-autoscaling-{{ id }}-fluxora_ec2-launch_template_present
{%- endmacro %}

{%- for key, group in aws.groups | dictsort %}
{%- set policy = salt['fluxora.require'](scaling.get(key, {}), policy_keys,
      'fluxora:scaling:groups:' ~ key) %}
{{ group_states(key, key, prefix ~ '-' ~ key, networks.primary, group, policy, policy.desired) }}
{%- endfor %}

{#- The DR copies: the DR network, the same tiers' security groups there. #}
{%- for key, group in aws.dr_groups | dictsort %}
{%- set group = salt['fluxora.require'](group, ['image_id', 'instance_type'],
      'fluxora:aws:dr_groups:' ~ key) %}
{%- set policy = salt['fluxora.require'](dr_scaling[key], policy_keys,
      'fluxora:scaling:groups:' ~ key) %}
{{ group_states(key ~ '-dr', key, prefix ~ '-' ~ key ~ '-dr', networks.dr,
                dict(group, security_groups=aws.groups[key].get('security_groups', [])),
                policy, 0) }}
{%- endfor %}
