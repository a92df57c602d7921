output "region" {
  description = "Region this module installed."
  value       = var.region
}

output "namespace" {
  description = "Namespace of the Switchyard release."
  value       = helm_release.switchyard.namespace
}

output "grpc_endpoints" {
  description = "Load-balancer addresses (IP or host name) of the gRPC proxy's client Service."
  value       = [for i in local.lb_ingress.grpc_proxy : coalesce(try(i.ip, ""), try(i.hostname, ""))]
}

output "http_endpoints" {
  description = "Load-balancer addresses (IP or host name) of the invocation service's client Service."
  value       = [for i in local.lb_ingress.invocation : coalesce(try(i.ip, ""), try(i.hostname, ""))]
}

output "geodns_addresses" {
  description = "IPv4 addresses of this region's geodns Service (glue records of the delegation)."
  value       = local.geodns_ipv4
}

output "geodns_hostnames" {
  description = "Host names of this region's geodns load balancer, when it has names instead of IPs (e.g. AWS NLB)."
  value       = [for i in local.lb_ingress.geodns : i.hostname if try(i.hostname, "") != ""]
}

output "admin_secret_name" {
  description = "Secret holding the control API admin token (key admin-token)."
  value       = kubernetes_secret_v1.admin.metadata[0].name
}
