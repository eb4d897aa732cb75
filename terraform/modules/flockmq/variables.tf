variable "namespace" {
  description = "Kubernetes namespace to deploy into (must exist)."
  type        = string
}

variable "image" {
  description = "The flockd container image."
  type        = string
  default     = "ghcr.io/flockmq/flockd:latest"
}

variable "gateway_replicas" {
  description = "Number of MQTT gateways."
  type        = number
  default     = 3
}

variable "controlplane_replicas" {
  description = "Number of control-plane instances."
  type        = number
  default     = 2
}

variable "nats_url" {
  description = "NATS URL (JetStream enabled), e.g. nats://nats:4222."
  type        = string
}

variable "redis_addr" {
  description = "Redis host:port for MQTT sessions."
  type        = string
}

variable "admin_key" {
  description = "Operator key for /v1/admin (at least 32 characters)."
  type        = string
  sensitive   = true

  validation {
    condition     = length(var.admin_key) >= 32
    error_message = "admin_key must be at least 32 characters."
  }
}

variable "proxy_protocol" {
  description = "Whether the load balancer in front of the gateways sends PROXY protocol headers."
  type        = bool
  default     = false
}
