{#- A launch template and an Auto Scaling group per group in pillar; limits, cooldown, warmup
    and scale-in protection from pillar fluxora:scaling:groups (the scaling engine's policy). #}
{%- from 'aws/map.jinja' import aws, prefix, tags, scaling, fluxora %}
include:
  - aws.iam
  - aws.security_groups
{%- for key, group in aws.groups | dictsort %}
{%- set policy = salt['fluxora.require'](scaling.get(key, {}), ['min', 'max', 'desired',
      'cooldown_seconds', 'warmup_seconds', 'scale_in_protection'], 'fluxora:scaling:groups:' ~ key) %}

aws-autoscaling-{{ key }}-fluxora_ec2-launch_template_present:
  fluxora_ec2.launch_template_present:
    - name: {{ prefix }}-{{ key }}
    - region: {{ aws.region }}
    - vpc_id: {{ aws.vpc_id | json }}
    - image_id: {{ group.image_id }}
    - instance_type: {{ group.instance_type }}
    - security_groups: {{ group.security_groups | map('regex_replace', '^', prefix ~ '-') | list | json }}
    - instance_profile: {{ prefix }}-{{ key }}
    - user_data: |
        #!/bin/sh
        # Bootstrap: this instance's Salt minion knows its environment and role.
        mkdir -p /etc/salt/minion.d
        cat > /etc/salt/minion.d/fluxora.conf <<'EOF'
        master: {{ aws.salt_master }}
        grains:
          fluxora:
            env: {{ fluxora.env }}
            roles: [{{ key }}]
        EOF
    - tags: {{ tags | json }}
    - require:
      - fluxora_iam: aws-iam-{{ key }}-fluxora_iam-role_present
{%- for sg in group.security_groups %}
      - fluxora_ec2: aws-security_groups-{{ sg }}-fluxora_ec2-security_group_present
{%- endfor %}

aws-autoscaling-{{ key }}-fluxora_asg-group_present:
  fluxora_asg.group_present:
    - name: {{ prefix }}-{{ key }}
    - region: {{ aws.region }}
    - launch_template: {{ prefix }}-{{ key }}
    - min_size: {{ policy.min }}
    - max_size: {{ policy.max }}
    - desired_capacity: {{ policy.desired }}
    - default_cooldown: {{ policy.cooldown_seconds }}
    - default_instance_warmup: {{ policy.warmup_seconds }}
    - protect_from_scale_in: {{ policy.scale_in_protection }}
    - availability_zones: {{ group.availability_zones | json }}
    - tags: {{ tags | json }}
    - require:
      - fluxora_ec2: aws-autoscaling-{{ key }}-fluxora_ec2-launch_template_present
{%- endfor %}
