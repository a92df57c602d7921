locals {
  # Names inside the zone need glue (their A records in the parent); names outside it resolve on their own.
  glued = {
    for name, addrs in var.nameservers : name => addrs
    if name == var.zone || endswith(name, ".${var.zone}")
  }
}

resource "aws_route53_record" "delegation" {
  zone_id = var.parent_zone_id
  name    = var.zone
  type    = "NS"
  ttl     = var.ttl
  records = sort([for name in keys(var.nameservers) : "${name}."])
}

resource "aws_route53_record" "glue" {
  for_each = local.glued

  zone_id = var.parent_zone_id
  name    = each.key
  type    = "A"
  ttl     = var.ttl
  records = sort(each.value)
}
