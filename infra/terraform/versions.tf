# numbering-service on AWS: the functions as Lambdas (built with
# `cargo lambda build --release --arm64 --output-format zip`), the two
# long-running processes (outbox relay, event consumer) on ECS Fargate, the
# DynamoDB lease cache, the import / export / audit-archive buckets, the
# export signing key, and the schedules and triggers that drive them.
#
# Postgres (the system of record) and NATS JetStream are inputs: they are
# run by the platform (RDS / Aurora PostgreSQL 15+, a NATS cluster) and
# passed in as variables.
terraform {
  required_version = ">= 1.11" # ephemeral variables, write-only attributes
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
  }
}

provider "aws" {
  region = var.region
  default_tags {
    tags = {
      service     = "numbering-service"
      environment = var.environment
    }
  }
}

locals {
  name = "${var.name_prefix}-${var.environment}"
}
