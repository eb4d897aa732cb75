output "mqtt_service" {
  description = "Name of the gateways' LoadBalancer Service."
  value       = kubernetes_service_v1.mqtt.metadata[0].name
}

output "api_service" {
  description = "Name of the control plane's Service."
  value       = kubernetes_service_v1.api.metadata[0].name
}
