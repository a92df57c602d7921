resource "aws_route53_record" "delegation" {
  zone_id = var.parent_zone_id
  name    = var.zone
  type    = "NS"
  ttl     = var.ttl
  records = sort([for name in keys(var.nameservers) : "${name}."])
}

# One A record set per NS name in the parent zone: glue for names inside var.zone (geodns answers the
# same addresses for them, chart value geodns.nameserverAddresses), ordinary records for names beside
# it in the parent zone.
resource "aws_route53_record" "glue" {
  for_each = var.nameservers

  zone_id = var.parent_zone_id
  name    = each.key
  type    = "A"
  ttl     = var.ttl
  records = sort(each.value)
}
