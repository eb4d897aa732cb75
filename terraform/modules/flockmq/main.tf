terraform {
  required_providers {
    kubernetes = {
      source  = "hashicorp/kubernetes"
      version = ">= 2.23"
    }
  }
}

locals {
  labels = { "app.kubernetes.io/name" = "flockmq" }
  gateway_labels = merge(local.labels, { "app.kubernetes.io/component" = "gateway" })
  cp_labels      = merge(local.labels, { "app.kubernetes.io/component" = "controlplane" })
}

resource "kubernetes_secret_v1" "admin" {
  metadata {
    name      = "flockmq-admin"
    namespace = var.namespace
  }
  data = {
    "admin-key" = var.admin_key
  }
}

resource "kubernetes_deployment_v1" "gateway" {
  metadata {
    name      = "flockmq-gateway"
    namespace = var.namespace
    labels    = local.gateway_labels
  }
  spec {
    replicas = var.gateway_replicas
    selector {
      match_labels = local.gateway_labels
    }
    strategy {
      rolling_update {
        max_unavailable = 1
        max_surge       = 1
      }
    }
    template {
      metadata {
        labels = local.gateway_labels
      }
      spec {
        termination_grace_period_seconds = 30
        container {
          name  = "flockd"
          image = var.image
          args  = ["gateway", "--log-format", "json"]
          env {
            name  = "FLOCKD_NATS_URL"
            value = var.nats_url
          }
          env {
            name  = "FLOCKD_REDIS_ADDR"
            value = var.redis_addr
          }
          env {
            name  = "FLOCKD_HTTP_ADDR"
            value = ":9090"
          }
          env {
            name = "FLOCKD_GATEWAY_ID"
            value_from {
              field_ref {
                field_path = "metadata.name"
              }
            }
          }
          port {
            name           = "mqtt"
            container_port = 1883
          }
          port {
            name           = "ws"
            container_port = 8083
          }
          port {
            name           = "http"
            container_port = 9090
          }
          readiness_probe {
            http_get {
              path = "/healthz"
              port = "http"
            }
          }
        }
      }
    }
  }
}

resource "kubernetes_service_v1" "mqtt" {
  metadata {
    name      = "flockmq-mqtt"
    namespace = var.namespace
    annotations = var.proxy_protocol ? {
      "service.beta.kubernetes.io/aws-load-balancer-proxy-protocol" = "*"
    } : {}
  }
  spec {
    type                    = "LoadBalancer"
    external_traffic_policy = "Local"
    selector                = local.gateway_labels
    port {
      name        = "mqtt"
      port        = 1883
      target_port = "mqtt"
    }
    port {
      name        = "ws"
      port        = 8083
      target_port = "ws"
    }
  }
}

resource "kubernetes_deployment_v1" "controlplane" {
  metadata {
    name      = "flockmq-controlplane"
    namespace = var.namespace
    labels    = local.cp_labels
  }
  spec {
    replicas = var.controlplane_replicas
    selector {
      match_labels = local.cp_labels
    }
    template {
      metadata {
        labels = local.cp_labels
      }
      spec {
        container {
          name  = "flockd"
          image = var.image
          args  = ["controlplane", "--log-format", "json"]
          env {
            name  = "FLOCKD_NATS_URL"
            value = var.nats_url
          }
          env {
            name  = "FLOCKD_HTTP_ADDR"
            value = ":8080"
          }
          env {
            name = "FLOCKD_ADMIN_KEY"
            value_from {
              secret_key_ref {
                name = kubernetes_secret_v1.admin.metadata[0].name
                key  = "admin-key"
              }
            }
          }
          port {
            name           = "http"
            container_port = 8080
          }
          readiness_probe {
            http_get {
              path = "/healthz"
              port = "http"
            }
          }
        }
      }
    }
  }
}

resource "kubernetes_service_v1" "api" {
  metadata {
    name      = "flockmq-api"
    namespace = var.namespace
  }
  spec {
    selector = local.cp_labels
    port {
      name        = "http"
      port        = 80
      target_port = "http"
    }
  }
}
