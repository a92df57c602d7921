variable "aws_region" {
  description = "AWS region of the Route 53 API calls (Route 53 is global)."
  type        = string
  default     = "us-east-1"
}

variable "kubeconfig_path" {
  description = "Kubeconfig holding both clusters' contexts."
  type        = string
  default     = "~/.kube/config"
}

variable "kube_contexts" {
  description = "Kubeconfig context of each region's cluster."
  type = object({
    us_east = string
    eu_west = string
  })
}

variable "domain" {
  description = "The Switchyard zone, e.g. sy.example.com."
  type        = string
}

variable "parent_zone_id" {
  description = "Route 53 hosted zone ID of the parent of domain."
  type        = string
}

variable "image" {
  description = "Switchyard image repository and tag in a registry both clusters reach."
  type = object({
    repository = string
    tag        = optional(string, "")
  })
}

variable "redis_urls" {
  description = "Redis URL of each region."
  type = object({
    us_east = string
    eu_west = string
  })
  sensitive = true
}

variable "admin_token" {
  description = "Admin token of the control API in both regions (at least 16 characters)."
  type        = string
  sensitive   = true
}

variable "geodns_addresses" {
  description = "Static IPv4 address of each region's geodns load balancer (reserved beforehand, so glue and geodns.nameservers are known before install)."
  type = object({
    us_east = list(string)
    eu_west = list(string)
  })
}

variable "public_addresses" {
  description = "Public client addresses of each region (grpc, http), for geodns answers."
  type = object({
    us_east = object({ grpc = list(string), http = list(string) })
    eu_west = object({ grpc = list(string), http = list(string) })
  })
}

variable "nats_nkey_seeds" {
  description = "nkey user seeds of the services (users of infra/nats/production/users.conf, the same in every region of the supercluster). Null: NATS without auth."
  type = object({
    grpc_proxy = string
    invocation = string
    api        = string
    geodns     = string
  })
  default   = null
  sensitive = true
}
