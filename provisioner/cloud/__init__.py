"""The cloud-provider adapter: turns NodeClass selectors into concrete EC2 ids (thin, boto3)."""
