"""AWS for actions: the `aws:` config section, the `aws` resource (boto3 clients) and the Auto
Scaling side of the scaling family (`asg`).

Credentials never come from the config file: boto3 reads them from the environment, the shared
credentials file or the instance profile. `endpoint_url` (else boto3's own `AWS_ENDPOINT_URL`)
points every client at an AWS-compatible endpoint, e.g. a moto server in tests.
"""
