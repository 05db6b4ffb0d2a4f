{%- from 'fluxora/identity.jinja' import identity with context %}
{#- This minion's roles, by its id (fluxora/identity.jinja): the states' top file, the
    orchestrations and fluxora.common (which keeps the grains equal) read them here. #}
fluxora:
  roles: {{ identity.roles | json }}
