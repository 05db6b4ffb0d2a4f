{#- Last: the environment's orphans, resources tagged as its own (ManagedBy, Environment) that
    pillar no longer declares (aws/map.jinja `declared`). A plan lists them as `remove`; an
    apply deletes them, but never a bucket that holds data nor an Auto Scaling group with
    instances (it fails naming them). #}
{%- from 'aws/map.jinja' import aws, prefix, tags, declared %}

aws-orphans-fluxora_orphans-absent:
  fluxora_orphans.absent:
    - name: {{ prefix }}
    - tags: {{ tags | json }}
    - regions: {{ [aws.region, aws.dr_region] | json }}
    - buckets: {{ declared.buckets | json }}
    - security_groups: {{ declared.security_groups | json }}
    - scaling_groups: {{ declared.scaling_groups | json }}
