terraform {
  required_providers {
    kubernetes = {
      source  = "hashicorp/kubernetes"
      version = ">= 2.23"
    }
  }
}

provider "kubernetes" {
  config_path = var.kubeconfig
}

variable "kubeconfig" {
  description = "Path to the kubeconfig of the development cluster."
  type        = string
  default     = "~/.kube/config"
}

variable "admin_key" {
  description = "Operator key for the control plane's /v1/admin API."
  type        = string
  sensitive   = true
}

resource "kubernetes_namespace_v1" "flockmq" {
  metadata {
    name = "flockmq-dev"
  }
}

module "flockmq" {
  source                = "../../modules/flockmq"
  namespace             = kubernetes_namespace_v1.flockmq.metadata[0].name
  gateway_replicas      = 1
  controlplane_replicas = 1
  nats_url              = "nats://nats.nats:4222"
  redis_addr            = "redis-master.redis:6379"
  admin_key             = var.admin_key
}
