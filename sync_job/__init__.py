"""sync-job: keeps OAuth2 client-credentials tokens fresh in AWS Secrets Manager."""

__version__ = "0.1.0"
