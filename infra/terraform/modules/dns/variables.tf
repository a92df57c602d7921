variable "parent_zone_id" {
  description = "Route 53 hosted zone ID of the parent zone (e.g. example.com) that delegates the Switchyard zone."
  type        = string

  validation {
    condition     = can(regex("^Z[A-Z0-9]+$", var.parent_zone_id))
    error_message = "parent_zone_id must be a Route 53 hosted zone ID (Z...)."
  }
}

variable "zone" {
  description = "The Switchyard zone served by geodns (chart value geodns.domain), a child of the parent zone, e.g. sy.example.com."
  type        = string

  validation {
    condition     = can(regex("^([a-z0-9]([-a-z0-9]*[a-z0-9])?\\.)+[a-z]{2,}$", var.zone))
    error_message = "zone must be a lower-case DNS name without a trailing dot."
  }
}

variable "nameservers" {
  description = "Every geodns server of every region: NS name => IPv4 addresses. Each name gets an A record set in the parent zone, so it must lie in it (inside zone: glue; beside it: an ordinary record). Provider-neutral: the modules/region output geodns_addresses fits here."
  type        = map(list(string))

  validation {
    condition     = length(var.nameservers) > 0 && alltrue([for addrs in values(var.nameservers) : length(addrs) > 0])
    error_message = "nameservers needs at least one name, each with at least one address."
  }

  validation {
    condition     = alltrue(flatten([for addrs in values(var.nameservers) : [for a in addrs : can(cidrhost("${a}/32", 0))]]))
    error_message = "every glue address must be an IPv4 address."
  }
}

variable "ttl" {
  description = "TTL in seconds of the NS and glue records."
  type        = number
  default     = 3600

  validation {
    condition     = var.ttl >= 60 && var.ttl <= 172800
    error_message = "ttl must be between 60 and 172800 seconds."
  }
}
