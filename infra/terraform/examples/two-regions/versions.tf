terraform {
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0.0, < 7.0.0"
    }
    helm = {
      source  = "hashicorp/helm"
      version = ">= 2.12.0, < 3.0.0"
    }
    kubernetes = {
      source  = "hashicorp/kubernetes"
      version = ">= 2.25.0, < 3.0.0"
    }
  }
}

provider "aws" {
  region = var.aws_region
}

provider "kubernetes" {
  alias          = "us_east"
  config_path    = var.kubeconfig_path
  config_context = var.kube_contexts.us_east
}

provider "kubernetes" {
  alias          = "eu_west"
  config_path    = var.kubeconfig_path
  config_context = var.kube_contexts.eu_west
}

provider "helm" {
  alias = "us_east"
  kubernetes {
    config_path    = var.kubeconfig_path
    config_context = var.kube_contexts.us_east
  }
}

provider "helm" {
  alias = "eu_west"
  kubernetes {
    config_path    = var.kubeconfig_path
    config_context = var.kube_contexts.eu_west
  }
}
