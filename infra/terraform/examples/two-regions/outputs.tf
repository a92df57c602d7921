output "grpc_endpoints" {
  description = "gRPC proxy load-balancer addresses per region."
  value = {
    us-east = module.us_east.grpc_endpoints
    eu-west = module.eu_west.grpc_endpoints
  }
}

output "http_endpoints" {
  description = "Invocation service load-balancer addresses per region."
  value = {
    us-east = module.us_east.http_endpoints
    eu-west = module.eu_west.http_endpoints
  }
}

output "nameservers" {
  description = "NS names of the delegated zone."
  value       = module.dns.nameservers
}
