# Two regions (us-east, eu-west) on two existing clusters, and the delegation of var.domain to both
# regions' geodns servers. Also the fixture of test/terraform-modules.test.ts.

locals {
  repo_root = "${path.module}/../../../.."

  geo_regions = {
    us-east = { lat = 39.0, lon = -77.5, addresses = var.public_addresses.us_east }
    eu-west = { lat = 53.3, lon = -6.3, addresses = var.public_addresses.eu_west }
  }

  # One NS name per region's geodns, inside the zone: glue in the parent zone (modules/dns), and
  # every geodns answers the same names' A records itself (nameserver_addresses).
  nameservers = {
    "ns-us-east.${var.domain}" = var.geodns_addresses.us_east
    "ns-eu-west.${var.domain}" = var.geodns_addresses.eu_west
  }
}

module "us_east" {
  source    = "../../modules/region"
  providers = { helm = helm.us_east, kubernetes = kubernetes.us_east }

  region               = "us-east"
  remote_regions       = ["eu-west"]
  chart_path           = "${local.repo_root}/infra/helm/switchyard"
  nats_values_file     = "${local.repo_root}/infra/nats/helm-values.yaml"
  image                = var.image
  domain               = var.domain
  geo_regions          = local.geo_regions
  nameservers          = keys(local.nameservers)
  nameserver_addresses = local.nameservers
  redis_url            = var.redis_urls.us_east
  admin_token          = var.admin_token
  nats_nkey_seeds      = var.nats_nkey_seeds
}

module "eu_west" {
  source    = "../../modules/region"
  providers = { helm = helm.eu_west, kubernetes = kubernetes.eu_west }

  region               = "eu-west"
  remote_regions       = ["us-east"]
  chart_path           = "${local.repo_root}/infra/helm/switchyard"
  nats_values_file     = "${local.repo_root}/infra/nats/helm-values.yaml"
  image                = var.image
  domain               = var.domain
  geo_regions          = local.geo_regions
  nameservers          = keys(local.nameservers)
  nameserver_addresses = local.nameservers
  redis_url            = var.redis_urls.eu_west
  admin_token          = var.admin_token
  nats_nkey_seeds      = var.nats_nkey_seeds
}

module "dns" {
  source = "../../modules/dns"

  parent_zone_id = var.parent_zone_id
  zone           = var.domain
  nameservers    = local.nameservers
}

check "geodns_addresses_match" {
  assert {
    condition = alltrue([
      for a in concat(module.us_east.geodns_addresses, module.eu_west.geodns_addresses) :
      contains(flatten(values(var.geodns_addresses)), a)
    ])
    error_message = "A geodns load balancer got an address that is not in var.geodns_addresses: the glue records would point elsewhere."
  }
}
