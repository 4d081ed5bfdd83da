terraform {
  required_version = ">= 1.5"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.0"
    }
  }

  # Keep the state remote and locked in a real deployment, e.g.:
  # backend "s3" {
  #   bucket       = "my-terraform-state"
  #   key          = "sync-job/paxos.tfstate"
  #   region       = "us-east-1"
  #   use_lockfile = true
  #   encrypt      = true
  # }
  # The state holds no secret value (the module never sees one), only names and ARNs.
}

provider "aws" {
  region = var.region

  default_tags {
    tags = var.tags
  }
}
