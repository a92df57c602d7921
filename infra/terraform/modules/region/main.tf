locals {
  fullname        = "${var.release_name}-switchyard"
  nats_url_scheme = var.nats_tls == null ? "nats" : "tls"
  nats_servers = length(var.nats_servers) > 0 ? var.nats_servers : [
    "${local.nats_url_scheme}://nats.${var.nats_namespace}.svc:4222",
  ]

  # NATS credentials per service (the chart's roles, as infra/nats/production/users.conf names them)
  nats_auth_type = var.nats_nkey_seeds != null ? "nkey" : var.nats_creds != null ? "creds" : "none"
  nats_roles     = { grpc_proxy = "grpc-proxy", invocation = "invocation", api = "api", geodns = "geodns" }

  # Chart values (infra/helm/switchyard/values.yaml); test/terraform-modules.test.ts checks every key
  # against the chart's schema.
  chart_values = {
    region        = var.region
    remoteRegions = var.remote_regions
    image         = var.image
    nats = {
      servers  = local.nats_servers
      replicas = var.nats_replicas
      auth = local.nats_auth_type == "none" ? { type = "none", existingSecret = "" } : {
        type           = local.nats_auth_type
        existingSecret = kubernetes_secret_v1.nats_auth[0].metadata[0].name
      }
      tls = var.nats_tls == null ? { enabled = false, existingSecret = "", clientCertificate = false } : {
        enabled           = true
        existingSecret    = kubernetes_secret_v1.nats_tls[0].metadata[0].name
        clientCertificate = var.nats_tls.cert != ""
      }
    }
    redis = {
      existingSecret    = kubernetes_secret_v1.redis.metadata[0].name
      existingSecretKey = "redis-url"
    }
    auth = {
      existingSecret = kubernetes_secret_v1.admin.metadata[0].name
      adminTokenKey  = "admin-token"
    }
    grpcProxy = {
      replicaCount = var.replicas.grpc_proxy
      tls = var.client_tls == null ? { enabled = false, existingSecret = "" } : {
        enabled        = true
        existingSecret = kubernetes_secret_v1.client_tls[0].metadata[0].name
      }
    }
    invocation = {
      replicaCount = var.replicas.invocation
      tls = var.client_tls == null ? { enabled = false, existingSecret = "" } : {
        enabled        = true
        existingSecret = kubernetes_secret_v1.client_tls[0].metadata[0].name
      }
    }
    api = {
      replicaCount = var.replicas.api
    }
    geodns = {
      replicaCount = var.replicas.geodns
      domain       = var.domain
      regions      = var.geo_regions
      nameservers  = var.nameservers
      # only the in-zone names: geodns refuses addresses of names it does not serve
      nameserverAddresses = { for name, addrs in var.nameserver_addresses : name => addrs if endswith(name, ".${var.domain}") }
    }
  }
}

resource "kubernetes_namespace_v1" "switchyard" {
  metadata {
    name   = var.namespace
    labels = { "app.kubernetes.io/part-of" = "switchyard" }
  }
}

resource "kubernetes_namespace_v1" "nats" {
  count = var.install_nats && var.nats_namespace != var.namespace ? 1 : 0

  metadata {
    name   = var.nats_namespace
    labels = { "app.kubernetes.io/part-of" = "switchyard" }
  }
}

resource "kubernetes_secret_v1" "admin" {
  metadata {
    name      = "${local.fullname}-admin"
    namespace = kubernetes_namespace_v1.switchyard.metadata[0].name
  }
  data = { "admin-token" = var.admin_token }
}

resource "kubernetes_secret_v1" "redis" {
  metadata {
    name      = "${local.fullname}-redis"
    namespace = kubernetes_namespace_v1.switchyard.metadata[0].name
  }
  data = { "redis-url" = var.redis_url }
}

# Keys <role>.creds or <role>.nk, as the chart mounts them (nats.auth.existingSecret).
resource "kubernetes_secret_v1" "nats_auth" {
  count = local.nats_auth_type == "none" ? 0 : 1

  metadata {
    name      = "${local.fullname}-nats-auth"
    namespace = kubernetes_namespace_v1.switchyard.metadata[0].name
  }
  data = local.nats_auth_type == "nkey" ? {
    for k, role in local.nats_roles : "${role}.nk" => "${trimspace(var.nats_nkey_seeds[k])}\n"
    } : {
    for k, role in local.nats_roles : "${role}.creds" => var.nats_creds[k]
  }
}

resource "kubernetes_secret_v1" "nats_tls" {
  count = var.nats_tls == null ? 0 : 1

  metadata {
    name      = "${local.fullname}-nats-tls"
    namespace = kubernetes_namespace_v1.switchyard.metadata[0].name
  }
  data = merge(
    { "ca.crt" = var.nats_tls.ca },
    var.nats_tls.cert == "" ? {} : { "tls.crt" = var.nats_tls.cert, "tls.key" = var.nats_tls.key },
  )
}

resource "kubernetes_secret_v1" "client_tls" {
  count = var.client_tls == null ? 0 : 1

  metadata {
    name      = "${local.fullname}-client-tls"
    namespace = kubernetes_namespace_v1.switchyard.metadata[0].name
  }
  type = "kubernetes.io/tls"
  data = {
    "tls.crt" = var.client_tls.cert
    "tls.key" = var.client_tls.key
  }
}

# The region's NATS cluster: the official chart with infra/nats/helm-values.yaml, written for us-east.
# Its Secrets (nats-ca, nats-*-tls, nats-accounts, ...) are the operator's (docs/deploy.md).
resource "helm_release" "nats" {
  count = var.install_nats ? 1 : 0

  name             = "nats"
  namespace        = var.nats_namespace
  create_namespace = false
  repository       = "https://nats-io.github.io/k8s/helm/charts/"
  chart            = "nats"
  version          = var.nats_chart_version
  values           = [replace(file(var.nats_values_file), "us-east", var.region)]
  wait             = true
  timeout          = var.timeout_seconds

  depends_on = [kubernetes_namespace_v1.nats]
}

resource "helm_release" "switchyard" {
  name      = var.release_name
  namespace = kubernetes_namespace_v1.switchyard.metadata[0].name
  chart     = var.chart_path
  values    = concat([yamlencode(local.chart_values)], var.extra_values)
  wait      = true
  timeout   = var.timeout_seconds

  depends_on = [helm_release.nats]
}

data "kubernetes_service_v1" "grpc_proxy" {
  metadata {
    name      = "${local.fullname}-grpc-proxy"
    namespace = helm_release.switchyard.namespace
  }
}

data "kubernetes_service_v1" "invocation" {
  metadata {
    name      = "${local.fullname}-invocation"
    namespace = helm_release.switchyard.namespace
  }
}

data "kubernetes_service_v1" "geodns" {
  metadata {
    name      = "${local.fullname}-geodns"
    namespace = helm_release.switchyard.namespace
  }
}

locals {
  lb_ingress = {
    for name, svc in {
      grpc_proxy = data.kubernetes_service_v1.grpc_proxy
      invocation = data.kubernetes_service_v1.invocation
      geodns     = data.kubernetes_service_v1.geodns
    } : name => try(svc.status[0].load_balancer[0].ingress, [])
  }
  geodns_ipv4 = [for i in local.lb_ingress.geodns : i.ip if try(i.ip, "") != ""]
}
