variable "region" {
  description = "Region this installation serves (letters, digits, `_`, `-`): NATS cluster and gateway name, ticket stream TICKETS_<region>, chart value `region`."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]+$", var.region))
    error_message = "region must contain only letters, digits, `_` and `-`."
  }
}

variable "remote_regions" {
  description = "Other regions of the NATS supercluster (chart value `remoteRegions`)."
  type        = list(string)
  default     = []
}

variable "namespace" {
  description = "Namespace of the Switchyard release (created by the module)."
  type        = string
  default     = "switchyard"

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", var.namespace)) && length(var.namespace) <= 63
    error_message = "namespace must be a DNS-1123 label."
  }
}

variable "nats_namespace" {
  description = "Namespace of the NATS release (created by the module)."
  type        = string
  default     = "nats"

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", var.nats_namespace)) && length(var.nats_namespace) <= 63
    error_message = "nats_namespace must be a DNS-1123 label."
  }
}

variable "release_name" {
  description = "Helm release name of Switchyard; objects are named <release_name>-switchyard-<component>."
  type        = string
  default     = "sy"
}

variable "chart_path" {
  description = "Path of the Switchyard chart (infra/helm/switchyard) or a chart reference."
  type        = string
}

variable "image" {
  description = "Switchyard image: repository, tag (empty: the chart's appVersion) and digest (overrides tag)."
  type = object({
    repository = string
    tag        = optional(string, "")
    digest     = optional(string, "")
  })
  default = { repository = "switchyard" }

  validation {
    condition     = var.image.digest == "" || can(regex("^sha256:[0-9a-f]{64}$", var.image.digest))
    error_message = "image.digest must be empty or sha256:<64 hex>."
  }
}

variable "domain" {
  description = "Zone the geodns servers are authoritative for (chart value geodns.domain), e.g. sy.example.com."
  type        = string

  validation {
    condition     = can(regex("^([a-z0-9]([-a-z0-9]*[a-z0-9])?\\.)+[a-z]{2,}$", var.domain))
    error_message = "domain must be a lower-case DNS name without a trailing dot."
  }
}

variable "geo_regions" {
  description = "Every region as {name => {lat, lon, addresses {grpc, http, api}}} (chart value geodns.regions, SWITCHYARD_GEO_REGIONS)."
  type = map(object({
    lat = number
    lon = number
    addresses = object({
      grpc = optional(list(string), [])
      http = optional(list(string), [])
      api  = optional(list(string), [])
    })
  }))
  default = {}
}

variable "nameservers" {
  description = "NS names of the zone served by geodns (chart value geodns.nameservers), the same in every region and in the parent's delegation (modules/dns). Empty: ns.<domain>, a placeholder for a zone nobody delegates."
  type        = list(string)
  default     = []
}

variable "nameserver_addresses" {
  description = "Addresses of the NS names inside the zone, NS name => IPs (chart value geodns.nameserverAddresses): geodns answers their A/AAAA records, as the parent's glue does. Every name of nameservers that ends in .<domain> needs an entry; the modules/dns input nameservers fits here."
  type        = map(list(string))
  default     = {}

  validation {
    condition     = alltrue([for addrs in values(var.nameserver_addresses) : length(addrs) > 0 && alltrue([for a in addrs : can(cidrhost("${a}/32", 0)) || can(cidrhost("${a}/128", 0))])])
    error_message = "every nameserver_addresses entry needs at least one IPv4 or IPv6 address."
  }
}

variable "redis_url" {
  description = "Redis of this region, redis://host:port (kept in a Secret; chart values redis.existingSecret)."
  type        = string
  sensitive   = true

  validation {
    condition     = can(regex("^rediss?://", var.redis_url))
    error_message = "redis_url must start with redis:// or rediss://."
  }
}

variable "admin_token" {
  description = "Admin token of the control API (at least 16 characters; Secret <release>-admin, chart value auth.existingSecret)."
  type        = string
  sensitive   = true

  validation {
    condition     = length(var.admin_token) >= 16
    error_message = "admin_token must have at least 16 characters."
  }
}

variable "nats_creds" {
  description = "NATS creds file contents per service (grpc_proxy, invocation, api, geodns) for chart auth type creds (JWT auth). Null: not this way. Not with nats_nkey_seeds."
  type = object({
    grpc_proxy = string
    invocation = string
    api        = string
    geodns     = string
  })
  default   = null
  sensitive = true
}

variable "nats_nkey_seeds" {
  description = "nkey user seeds (SU..., `nk -gen user`) per service (grpc_proxy, invocation, api, geodns) for chart auth type nkey: the users of infra/nats/production/users.conf, whose public keys the NATS servers hold (GRPC_PROXY_NKEY, ...). Null: not this way. Not with nats_creds."
  type = object({
    grpc_proxy = string
    invocation = string
    api        = string
    geodns     = string
  })
  default   = null
  sensitive = true

  validation {
    condition     = var.nats_nkey_seeds == null ? true : alltrue([for s in values(var.nats_nkey_seeds) : can(regex("^SU[A-Z2-7]{56}\\s*$", s))])
    error_message = "every nats_nkey_seeds value must be an nkey user seed (SU followed by 56 base32 characters)."
  }

  validation {
    condition     = var.nats_nkey_seeds == null || var.nats_creds == null
    error_message = "set one of nats_creds and nats_nkey_seeds."
  }
}

variable "nats_tls" {
  description = "PEM CA, and client certificate and key, for TLS to NATS (chart values nats.tls.*). Null: plain NATS."
  type = object({
    ca   = string
    cert = optional(string, "")
    key  = optional(string, "")
  })
  default   = null
  sensitive = true
}

variable "client_tls" {
  description = "PEM certificate and key of the client listeners (gRPC proxy and invocation; kubernetes.io/tls Secret). Null: no TLS."
  type = object({
    cert = string
    key  = string
  })
  default   = null
  sensitive = true
}

variable "install_nats" {
  description = "Install the official NATS chart with infra/nats/helm-values.yaml in nats_namespace."
  type        = bool
  default     = true
}

variable "nats_chart_version" {
  description = "Version of the official NATS chart (https://nats-io.github.io/k8s/helm/charts/)."
  type        = string
  default     = "1.2.6"
}

variable "nats_values_file" {
  description = "Path of the NATS chart values (infra/nats/helm-values.yaml); `us-east` in it is replaced by region."
  type        = string
}

variable "nats_servers" {
  description = "NATS URLs the services dial. Empty: the NATS release's Service, tls:// when nats_tls is set."
  type        = list(string)
  default     = []
}

variable "nats_replicas" {
  description = "Replicas of every JetStream bucket and stream (chart value nats.replicas): 1, 3 or 5."
  type        = number
  default     = 3

  validation {
    condition     = contains([1, 3, 5], var.nats_replicas)
    error_message = "nats_replicas must be 1, 3 or 5."
  }
}

variable "replicas" {
  description = "Replicas per component (grpcProxy, invocation, api, geodns)."
  type = object({
    grpc_proxy = optional(number, 2)
    invocation = optional(number, 2)
    api        = optional(number, 2)
    geodns     = optional(number, 2)
  })
  default = {}

  validation {
    condition     = alltrue([for n in values(var.replicas) : n >= 1])
    error_message = "every replica count must be at least 1."
  }
}

variable "extra_values" {
  description = "More chart values as YAML documents, merged after the module's own."
  type        = list(string)
  default     = []
}

variable "timeout_seconds" {
  description = "How long helm waits for each release to be ready."
  type        = number
  default     = 600
}
